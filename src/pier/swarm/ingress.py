"""The routing mesh without an overlay: every node listens on each service's ingress
ports and forwards each connection to a running task of the service, on this node
(straight to the container's address) or on another (to the ephemeral host port the
task's container publishes on its node). As with Docker's mesh, the task sees the
forwarding node as the client, not the client's own address.

One asyncio server per published port; no process per port, no per-connection thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Mapping
from typing import Any

from pier.errors import PierError
from pier.swarm.session import Session

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024


class IngressProxy:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._wake = asyncio.Event()
        self._servers: dict[int, asyncio.Server] = {}
        self._targets: dict[int, list[tuple[str, int]]] = {}
        self._turn = itertools.count()
        self._conns: set[asyncio.Task[None]] = set()
        self._warned: set[int] = set()

    def kick(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                try:
                    await self._refresh()
                except PierError as exc:
                    log.debug("ingress: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 30.0)
                await asyncio.sleep(0.1)  # a burst of changes is one refresh
        finally:
            for server in self._servers.values():
                server.close()
            for conn in list(self._conns):
                conn.cancel()
            for server in self._servers.values():
                with contextlib.suppress(Exception):
                    await server.wait_closed()
            self._servers.clear()

    async def _refresh(self) -> None:
        store = self._session.store
        me = self._session.node_id
        ports: set[int] = set()
        for s in await store.list("services"):
            for p in s.get("Endpoint", {}).get("Ports") or []:
                if p.get("PublishMode") == "ingress" and p.get("Protocol", "tcp") == "tcp":
                    ports.add(int(p["PublishedPort"]))
        targets: dict[int, list[tuple[str, int]]] = {p: [] for p in ports}
        for t in await store.list("tasks"):
            if t["DesiredState"] != "running" or t["Status"]["State"] != "running":
                continue
            for entry in t.get("_Ingress") or []:
                port = int(entry["PublishedPort"])
                if port in targets:
                    targets[port].append(_target(entry, local=t.get("NodeID") == me))
        self._targets = targets
        for port in list(self._servers):
            if port not in ports:
                self._servers.pop(port).close()
        for port in ports - set(self._servers):
            try:
                self._servers[port] = await asyncio.start_server(
                    self._accept(port), host=None, port=port, reuse_address=True
                )
            except OSError as exc:
                # Another process holds it (or, on one host, another node): try later,
                # saying so once.
                if port not in self._warned:
                    self._warned.add(port)
                    log.warning("ingress cannot listen on port %d: %s", port, exc)

    def _accept(self, port: int) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._conns.add(task)
            try:
                await self._forward(port, reader, writer)
            finally:
                self._conns.discard(task)

        return handle

    async def _forward(
        self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        targets = self._targets.get(port) or []
        try:
            if not targets:
                return
            start = next(self._turn)
            upstream = None
            for i in range(len(targets)):
                host, target_port = targets[(start + i) % len(targets)]
                try:
                    upstream = await asyncio.wait_for(asyncio.open_connection(host, target_port), 3)
                    break
                except (OSError, TimeoutError):
                    continue
            if upstream is None:
                return
            up_reader, up_writer = upstream
            try:
                await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            writer.close()


def _target(entry: Mapping[str, Any], *, local: bool) -> tuple[str, int]:
    if local and entry.get("ContainerAddr"):
        return str(entry["ContainerAddr"]), int(entry["TargetPort"])
    return str(entry["Addr"]), int(entry["Port"])


async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(_CHUNK):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (ConnectionError, OSError):
        dst.close()
