"""The node agent: runs the tasks the store assigns to this node, through the node's
own container service, and reports their state.

Each pass compares this node's tasks in the store with its task containers: starts
what should run, stops and removes what should not (a task shut down, moved, or gone
from the store: a node coming back finds its old tasks given away), and records exits
it learns from the container events. Status only moves forward, as swarmkit's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pier import timefmt
from pier.errors import PierError
from pier.swarm import docs, taskspec
from pier.swarm.session import Session
from pier.swarm.store import Doc, mutate
from pier.swarm.taskcontainers import TaskContainer, TaskContainers

log = logging.getLogger(__name__)


class NodeAgent:
    def __init__(self, session: Session, *, containers: TaskContainers) -> None:
        self._session = session
        self._store = session.store
        self._node = session.node_id
        self._containers = containers
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._busy: dict[str, asyncio.Task[None]] = {}  # task ID -> its start or stop
        self._fenced = False

    def kick(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        exits = asyncio.create_task(self._watch_exits(), name="swarm-agent-exits")
        try:
            while True:
                self._wake.clear()
                try:
                    async with self._lock:
                        await self._pass()
                except PierError as exc:
                    log.warning("agent: %s", exc)
                except Exception:
                    log.exception("agent pass failed")
                # The watch kicks at every change; the timer only catches what no
                # change announces.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 10.0)
        finally:
            exits.cancel()
            busy = list(self._busy.values())
            for job in busy:
                job.cancel()
            for job in [exits, *busy]:
                with contextlib.suppress(asyncio.CancelledError):
                    await job

    async def _pass(self) -> None:
        self._fenced = False
        mine = {t.id: t for t in await self._store.list("tasks") if t.get("NodeID") == self._node}
        local = self._containers.by_task()
        for tid, stale in local.items():
            if tid not in mine and tid not in self._busy:
                self._spawn(tid, self._remove_container(stale, grace=1))
        for t in mine.values():
            if t.id in self._busy:
                continue
            c = local.get(t.id)
            state = t["Status"]["State"]
            if t["DesiredState"] == "running":
                if c is None and state == "assigned":
                    self._spawn(t.id, self._start(t))
                elif c is None and not docs.terminal(state):
                    await self._report(t.id, "failed", "task: its container is gone", err=True)
                elif c is not None and not c.running and not docs.terminal(state):
                    await self._exited(t.id, c.exit_code)
                elif c is not None and c.running and state != "running":
                    await self._report(t.id, "running", "started", container=c)
            else:
                # A task shut down keeps its stopped container (logs, `ps -a`) until the
                # task leaves the store (history pruned, service removed).
                if c is not None and (c.running or t["DesiredState"] == "remove"):
                    self._spawn(t.id, self._stop(t, c))
                elif c is None and t["DesiredState"] == "remove":
                    await self._store.delete("tasks", t.id)
                elif not docs.terminal(state):
                    await self._report(t.id, "shutdown", "shutdown")

    def _spawn(self, tid: str, work: Any) -> None:
        job = asyncio.create_task(work, name=f"swarm-task-{tid}")
        self._busy[tid] = job
        job.add_done_callback(lambda _: self._done(tid, job))

    def _done(self, tid: str, job: asyncio.Task[None]) -> None:
        if self._busy.get(tid) is job:
            del self._busy[tid]
        self._wake.set()

    async def _start(self, task: Doc) -> None:
        body = task.body
        try:
            await self._report(task.id, "preparing", "preparing")
            try:
                cid = await self._containers.create(
                    taskspec.container_name(body), taskspec.create_body(body)
                )
            except PierError as exc:
                await self._report(task.id, "rejected", str(exc), err=True)
                return
            await self._report(task.id, "starting", "starting")
            try:
                c = await self._containers.start(cid)
            except PierError as exc:
                await self._report(task.id, "failed", str(exc), err=True)
                with contextlib.suppress(PierError):
                    await self._containers.stop_and_remove(cid, 0)
                return
            await self._report(task.id, "running", "started", container=c)
        except asyncio.CancelledError:
            raise
        except PierError as exc:
            log.warning("task %s: %s", task.id, exc)

    async def _stop(self, task: Doc, c: TaskContainer) -> None:
        grace = taskspec.grace_seconds(task.body)
        try:
            if task["DesiredState"] == "remove":
                await self._containers.stop_and_remove(c.id, grace)
                await self._store.delete("tasks", task.id)
            else:
                await self._containers.stop(c.id, grace)
                await self._report(task.id, "shutdown", "shutdown")
        except PierError as exc:
            log.warning("stopping task %s: %s", task.id, exc)

    async def _remove_container(self, c: TaskContainer, *, grace: int) -> None:
        with contextlib.suppress(PierError):
            await self._containers.stop_and_remove(c.id, grace)

    async def _watch_exits(self) -> None:
        async for tid, code in self._containers.exits():
            with contextlib.suppress(PierError):
                await self._exited(tid, code)

    async def _exited(self, tid: str, code: int) -> None:
        doc = await self._store.get("tasks", tid)
        if doc is None or doc.get("NodeID") != self._node:
            return
        if doc["DesiredState"] != "running":
            await self._report(tid, "shutdown", "shutdown")
        elif code == 0:
            await self._report(tid, "complete", "finished", exit_code=0)
        else:
            message = f"task: non-zero exit ({code})"
            await self._report(tid, "failed", message, err=True, exit_code=code)

    async def _report(
        self,
        tid: str,
        state: str,
        message: str,
        *,
        err: bool = False,
        container: TaskContainer | None = None,
        exit_code: int | None = None,
    ) -> None:
        ports = self._containers.published(container.id) if container else {}

        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            status = body["Status"]
            if docs.state_order(status["State"]) >= docs.state_order(state):
                return None
            new: dict[str, Any] = {
                "Timestamp": timefmt.now(),
                "State": state,
                "Message": message,
                "PortStatus": status.get("PortStatus") or {},
            }
            if err:
                new["Err"] = message
            if state == "running":  # the rollout's monitoring period starts here
                body["_RunningAt"] = new["Timestamp"]
            cs = dict(status.get("ContainerStatus") or {})
            if container is not None:
                cs = {"ContainerID": container.id, "PID": container.pid, "ExitCode": 0}
                host = [
                    {**p, "PublishMode": "host"}
                    for p in body.get("_Ports") or []
                    if p.get("PublishMode") == "host"
                ]
                if host:
                    new["PortStatus"] = {"Ports": host}
                ingress = []
                for p in body.get("_Ports") or []:
                    if p.get("PublishMode") == "host":
                        continue
                    host_port, container_addr = ports.get(
                        (int(p["TargetPort"]), p.get("Protocol") or "tcp"), (0, "")
                    )
                    ingress.append(
                        {
                            "PublishedPort": p["PublishedPort"],
                            "TargetPort": p["TargetPort"],
                            "Addr": self._session.state.advertise_host,
                            "Port": host_port,
                            "ContainerAddr": container_addr,
                        }
                    )
                body["_Ingress"] = ingress
            if exit_code is not None and cs:
                cs["ExitCode"] = exit_code
                cs["PID"] = 0
            if cs:
                new["ContainerStatus"] = cs
            body["Status"] = new
            body["UpdatedAt"] = new["Timestamp"]
            return body

        await mutate(self._store, "tasks", tid, change)

    async def fence(self) -> None:
        """The lease is lost: the tasks are someone else's by now. Stop them all."""
        async with self._lock:
            self._fenced = True
            for job in list(self._busy.values()):
                job.cancel()
            for c in self._containers.by_task().values():
                with contextlib.suppress(PierError):
                    await self._containers.stop_and_remove(c.id, 0)

    async def leave(self) -> None:
        for c in self._containers.by_task().values():
            with contextlib.suppress(PierError):
                await self._containers.stop_and_remove(c.id, 0)
