"""Rolling updates and rollbacks of a service (swarmkit's updater, reduced).

An update that changes the task template raises the service's generation; tasks of
an older generation are replaced in batches of `Parallelism` (0: all at once), a
batch starting once the previous one runs and `Delay` has passed, each slot either
stop-first (the default) or start-first. As swarmkit's updater: a task the update made
that ends (fails, or even completes) before it has run for `Monitor` (default 5 s) is a
failure; once failures exceed `MaxFailureRatio` of the service's slots, the update
stops as `FailureAction` says: pause (the default), continue, or rollback to
`PreviousSpec` (a rollback that fails pauses). As swarmkit's, the update completes one
monitoring period (Delay + 1 s if the delay is longer) after its last task was made,
once all its tasks run: the CLI returns one period after it sees them run, so a
`service update` followed at once by `service rollback` finds the update completed
and the service's version settled.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol

from pier import timefmt
from pier.swarm import docs
from pier.swarm.scheduler import NodeView, Placed
from pier.swarm.store import Doc, SwarmStore, mutate

# swarmkit's defaults.Service.Update.Monitor (and Rollback's): a spec's 0 means it.
DEFAULT_MONITOR = 5 * docs.SECOND
# The states of a task that ended by itself (shutdown is the orchestrator's doing).
_ENDED = ("complete", "failed", "rejected")


class CreateTask(Protocol):
    def __call__(
        self,
        service: Doc,
        nodes: list[NodeView],
        placed: list[Placed],
        *,
        slot: int = 0,
        node_id: str = "",
        by_update: bool = False,
    ) -> Awaitable[None]: ...


def update_failures(tasks: list[Doc], *, gen: int, monitor: int) -> list[Doc]:
    """Tasks this update made that ended before running for `monitor` ns (swarmkit's
    failureTriggersAction): a task that never ran counts, as one that ran briefly."""
    out = []
    for t in tasks:
        if t.get("_Gen") != gen or not t.get("_ByUpdate") or t["Status"]["State"] not in _ENDED:
            continue
        ran_at = t.get("_RunningAt")
        if ran_at is None:
            out.append(t)
            continue
        ended = timefmt.parse_ns(t["Status"]["Timestamp"])
        if ended - timefmt.parse_ns(ran_at) <= monitor:
            out.append(t)
    return out


def completion_due(fresh: list[Doc], *, period: int) -> int:
    """When an update whose tasks all run completes (ns since the epoch): one
    monitoring period after the last of its tasks was made."""
    made = [timefmt.parse_ns(t["CreatedAt"]) for t in fresh]
    return max(made, default=0) + period


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
        self._due: dict[str, int] = {}  # service id -> when its update completes (ns)

    def next_due(self) -> int | None:
        """The earliest time (ns since the epoch) an update in progress completes."""
        return min(self._due.values(), default=None)

    def forget_removed(self, services: Collection[str]) -> None:
        """Drop what is kept for services no longer there (removed mid-update)."""
        for sid in [s for s in self._due if s not in services]:
            del self._due[sid]
        for sid in [s for s in self._next_batch if s not in services]:
            del self._next_batch[sid]

    async def step(
        self,
        service: Doc,
        tasks: list[Doc],
        live: list[Doc],
        nodes: list[NodeView],
        placed: list[Placed],
    ) -> None:
        # Due only while this pass finds the update's tasks all running.
        self._due.pop(service.id, None)
        status = service.get("UpdateStatus") or {}
        state = status.get("State")
        if state not in ("updating", "rollback_started"):
            return
        rollback = state == "rollback_started"
        spec = service["Spec"]
        config = spec.get("RollbackConfig" if rollback else "UpdateConfig") or {}
        parallelism = int(config["Parallelism"]) if "Parallelism" in config else 1
        delay_ns = int(config.get("Delay") or 0)
        action = str(config.get("FailureAction") or "pause")
        start_first = config.get("Order") == "start-first"
        gen = int(service.get("_Gen") or 0)

        monitor = int(config.get("Monitor") or 0) or DEFAULT_MONITOR
        ratio = float(config.get("MaxFailureRatio") or 0)
        failed = update_failures(tasks, gen=gen, monitor=monitor)
        slots = {_slot(t) for t in live} | {_slot(t) for t in failed}
        if action != "continue" and len(failed) / max(1, len(slots)) > ratio:
            last = max(failed, key=lambda t: timefmt.parse_ns(t["Status"]["Timestamp"]))
            await self._fail(service, last.id, rollback=rollback, action=action)
            return

        fresh = {_slot(t): t for t in live if t.get("_Gen") == gen}
        outdated = [t for t in live if t.get("_Gen") != gen]
        # start-first: the old task of a slot goes once its successor runs.
        for t in outdated:
            successor = fresh.get(_slot(t))
            if successor is not None and successor["Status"]["State"] == "running":
                await _shutdown(self._store, t)
        waiting = [t for t in outdated if _slot(t) not in fresh]
        in_flight = [t for t in fresh.values() if t["Status"]["State"] != "running"]
        if not waiting and not in_flight and not [t for t in outdated if _slot(t) in fresh]:
            period = delay_ns + docs.SECOND if delay_ns >= monitor else monitor
            due = completion_due(list(fresh.values()), period=period)
            if time.time_ns() >= due:
                await self._complete(service, rollback=rollback)
            else:
                self._due[service.id] = due
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
                service,
                nodes,
                placed,
                slot=slot,
                node_id="" if slot else str(t["NodeID"]),
                by_update=True,
            )
        self._next_batch[service.id] = now + delay_ns / docs.SECOND

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
        self._due.pop(service.id, None)

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
        self._due.pop(service.id, None)


def _slot(t: Doc) -> int | str:
    return int(t.get("Slot") or 0) or str(t.get("NodeID") or "")


async def _shutdown(store: SwarmStore, task: Doc) -> None:
    def change(body: dict[str, Any]) -> dict[str, Any] | None:
        if body["DesiredState"] != "running":
            return None
        body["DesiredState"] = "shutdown"
        body["UpdatedAt"] = timefmt.now()
        return body

    await mutate(store, "tasks", task.id, change)


__all__ = ["Callable", "Rollout", "start_update"]
