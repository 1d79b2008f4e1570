"""Rolling updates and rollbacks of a service (swarmkit's updater, reduced).

An update that changes the task template raises the service's generation; tasks of
an older generation are replaced in batches of `Parallelism` (0: all at once), a
batch starting once the previous one runs and `Delay` has passed, each slot either
stop-first (the default) or start-first. A new task that fails stops the update as
`FailureAction` says: pause (the default), continue, or rollback to `PreviousSpec`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pier import timefmt
from pier.swarm import docs
from pier.swarm.scheduler import NodeView, Placed
from pier.swarm.store import Doc, SwarmStore, mutate


class CreateTask(Protocol):
    def __call__(
        self,
        service: Doc,
        nodes: list[NodeView],
        placed: list[Placed],
        *,
        slot: int = 0,
        node_id: str = "",
    ) -> Awaitable[None]: ...


def start_update(body: dict[str, Any], *, rollback: bool, message: str) -> None:
    """Mark a service document as updating (or rolling back) to its current spec."""
    body["_Gen"] = int(body.get("_Gen") or 0) + 1
    now = timefmt.now()
    body["UpdateStatus"] = {
        "State": "rollback_started" if rollback else "updating",
        "StartedAt": now,
        "Message": message,
    }


class Rollout:
    def __init__(self, *, store: SwarmStore, create: CreateTask) -> None:
        self._store = store
        self._create = create
        self._next_batch: dict[str, float] = {}

    async def step(
        self,
        service: Doc,
        tasks: list[Doc],
        live: list[Doc],
        nodes: list[NodeView],
        placed: list[Placed],
    ) -> None:
        status = service.get("UpdateStatus") or {}
        state = status.get("State")
        if state not in ("updating", "rollback_started"):
            return
        rollback = state == "rollback_started"
        spec = service["Spec"]
        config = spec.get("RollbackConfig" if rollback else "UpdateConfig") or {}
        parallelism = int(config["Parallelism"]) if "Parallelism" in config else 1
        delay = int(config.get("Delay") or 0) / docs.SECOND
        action = str(config.get("FailureAction") or "pause")
        start_first = config.get("Order") == "start-first"
        gen = int(service.get("_Gen") or 0)
        started = timefmt.parse_ns(status["StartedAt"])

        failed = [
            t
            for t in tasks
            if t.get("_Gen") == gen
            and t["Status"]["State"] in ("failed", "rejected")
            and timefmt.parse_ns(t["Status"]["Timestamp"]) >= started
        ]
        if failed and action != "continue":
            await self._fail(service, failed[0].id, rollback=rollback, action=action)
            return

        def key(t: Doc) -> int | str:
            return int(t.get("Slot") or 0) or str(t.get("NodeID") or "")

        fresh = {key(t): t for t in live if t.get("_Gen") == gen}
        outdated = [t for t in live if t.get("_Gen") != gen]
        # start-first: the old task of a slot goes once its successor runs.
        for t in outdated:
            successor = fresh.get(key(t))
            if successor is not None and successor["Status"]["State"] == "running":
                await _shutdown(self._store, t)
        waiting = [t for t in outdated if key(t) not in fresh]
        in_flight = [t for t in fresh.values() if t["Status"]["State"] != "running"]
        if not waiting and not in_flight and not [t for t in outdated if key(t) in fresh]:
            await self._complete(service, rollback=rollback)
            return
        now = time.monotonic()
        room = (parallelism or len(waiting)) - len(in_flight)
        if room <= 0 or now < self._next_batch.get(service.id, 0.0) or not waiting:
            return
        for t in waiting[:room]:
            if not start_first:
                await _shutdown(self._store, t)
            slot = int(t.get("Slot") or 0)
            await self._create(
                service, nodes, placed, slot=slot, node_id="" if slot else str(t["NodeID"])
            )
        self._next_batch[service.id] = now + delay

    async def _complete(self, service: Doc, *, rollback: bool) -> None:
        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            status = body.get("UpdateStatus") or {}
            if status.get("State") not in ("updating", "rollback_started"):
                return None
            body["UpdateStatus"] = {
                **status,
                "State": "rollback_completed" if rollback else "completed",
                "CompletedAt": timefmt.now(),
                "Message": "rollback completed" if rollback else "update completed",
            }
            return body

        await mutate(self._store, "services", service.id, change)
        self._next_batch.pop(service.id, None)

    async def _fail(self, service: Doc, task_id: str, *, rollback: bool, action: str) -> None:
        why = f"failure or early termination of task {task_id}"

        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            if action == "rollback" and not rollback and body.get("PreviousSpec"):
                body["Spec"], body["PreviousSpec"] = body["PreviousSpec"], body["Spec"]
                start_update(body, rollback=True, message=f"update rolled back due to {why}")
                return body
            body["UpdateStatus"] = {
                **(body.get("UpdateStatus") or {}),
                "State": "rollback_paused" if rollback else "paused",
                "Message": f"{'rollback' if rollback else 'update'} paused due to {why}",
            }
            return body

        await mutate(self._store, "services", service.id, change)


async def _shutdown(store: SwarmStore, task: Doc) -> None:
    def change(body: dict[str, Any]) -> dict[str, Any] | None:
        if body["DesiredState"] != "running":
            return None
        body["DesiredState"] = "shutdown"
        body["UpdatedAt"] = timefmt.now()
        return body

    await mutate(store, "tasks", task.id, change)


__all__ = ["Callable", "Rollout", "start_update"]
