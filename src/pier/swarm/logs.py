"""GET /services/{id}/logs and /tasks/{id}/logs: every task's container log, from its
own node (read here, or fetched from the node's cluster port), merged into one
multiplexed stream. Each line carries moby's details (`com.docker.swarm.node.id=...,
com.docker.swarm.service.id=...,com.docker.swarm.task.id=... `), which the docker CLI
needs to name the task a line comes from."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp

from pier import timefmt
from pier.containers.logs import LogOptions, LogRecord
from pier.errors import InvalidParameter, NotFound, PierError, Unavailable
from pier.swarm.session import Session
from pier.swarm.store import Doc
from pier.swarm.taskcontainers import TaskContainers

LocalLogs = Callable[[str, LogOptions], AsyncIterator[list[LogRecord]]]


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def parse_options(query: Mapping[str, str]) -> LogOptions:
    def flag(name: str) -> bool:
        return query.get(name, "") not in ("", "0", "false", "False")

    if not (flag("stdout") or flag("stderr")):
        raise InvalidParameter("Bad parameters: you must choose at least one stream")
    tail_text = query.get("tail", "all")
    tail = None if tail_text in ("", "all") else max(int(tail_text), 0)
    since = query.get("since")
    return LogOptions(
        stdout=flag("stdout"),
        stderr=flag("stderr"),
        follow=flag("follow"),
        timestamps=flag("timestamps"),
        since_ns=timefmt.parse_api_time(since) if since else None,
        tail=tail,
    )


def _details(task: Mapping[str, Any]) -> bytes:
    attrs = {
        "com.docker.swarm.node.id": task["NodeID"],
        "com.docker.swarm.service.id": task["ServiceID"],
        "com.docker.swarm.task.id": task["ID"],
    }
    return (
        ",".join(
            f"{urllib.parse.quote_plus(k)}={urllib.parse.quote_plus(str(v))}"
            for k, v in sorted(attrs.items())
        )
        + " "
    ).encode()


class ServiceLogs:
    def __init__(self, *, local: LocalLogs, containers: TaskContainers) -> None:
        self._local = local
        self._containers = containers

    async def local_task(
        self, session: Session, task_id: str, query: Mapping[str, str]
    ) -> AsyncIterator[bytes]:
        """One task's log on this node, framed with its details."""
        task = await session.store.get("tasks", task_id)
        c = self._containers.by_task().get(task_id)
        if task is None or c is None:
            raise NotFound(f"task {task_id} has no container on this node")
        options = parse_options(query)
        # moby adds the details only when asked (the CLI's --raw does not ask).
        wanted = query.get("details", "") not in ("", "0", "false", "False")
        details = _details(task.body) if wanted else b""
        async for batch in self._local(c.id, options):
            yield b"".join(
                frame(
                    r.stream,
                    (r.time.encode() + b" " if options.timestamps else b"") + details + r.data,
                )
                for r in batch
            )

    async def stream(
        self, session: Session, kind: str, ref: str, query: Mapping[str, str]
    ) -> AsyncIterator[bytes]:
        parse_options(query)  # bad parameters fail before the stream starts
        tasks = await self._tasks(session, kind, ref)
        nodes = {n.id: n for n in await session.store.list("nodes")}
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)

        async def pump(task: Doc) -> None:
            try:
                if task["NodeID"] == session.node_id:
                    source = self.local_task(session, task.id, query)
                else:
                    source = _remote(nodes.get(task["NodeID"]), task.id, query)
                async for chunk in source:
                    await queue.put(chunk)
            except PierError:
                pass  # a task whose container is gone has no more logs
            finally:
                await queue.put(None)

        pumps = [asyncio.create_task(pump(t)) for t in tasks]
        try:
            remaining = len(pumps)
            while remaining:
                chunk = await queue.get()
                if chunk is None:
                    remaining -= 1
                else:
                    yield chunk
        finally:
            for p in pumps:
                p.cancel()
            for p in pumps:
                with contextlib.suppress(asyncio.CancelledError):
                    await p

    async def _tasks(self, session: Session, kind: str, ref: str) -> list[Doc]:
        tasks = await session.store.list("tasks")
        if kind == "task":
            found = [t for t in tasks if t.id == ref or (ref and t.id.startswith(ref))]
            if len(found) != 1:
                raise NotFound(f"task {ref} not found")
            return found
        services = await session.store.list("services")
        match = (
            [s for s in services if s.id == ref]
            or [s for s in services if s["Spec"]["Name"] == ref]
            or [s for s in services if ref and s.id.startswith(ref)]
        )
        if len(match) != 1:
            raise NotFound(f"service {ref} not found")
        return [t for t in tasks if t["ServiceID"] == match[0].id and t.get("NodeID")]


async def _remote(node: Doc | None, task_id: str, query: Mapping[str, str]) -> AsyncIterator[bytes]:
    if node is None:
        return
    addr = node.get("_Pier", {}).get("ListenAddr")
    if not addr:
        return
    url = f"http://{addr}/tasks/{task_id}/logs"
    try:
        async with (
            aiohttp.ClientSession() as client,
            client.get(
                url, params=dict(query), timeout=aiohttp.ClientTimeout(sock_connect=5)
            ) as resp,
        ):
            if resp.status != 200:
                return
            # Whole frames only: the merged stream interleaves several sources.
            pending = b""
            async for chunk in resp.content.iter_any():
                pending += chunk
                end = 0
                while len(pending) - end >= 8:
                    size = struct.unpack(">I", pending[end + 4 : end + 8])[0]
                    if len(pending) - end < 8 + size:
                        break
                    end += 8 + size
                if end:
                    yield pending[:end]
                    pending = pending[end:]
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise Unavailable(f"node {node.id}: {exc}") from exc
