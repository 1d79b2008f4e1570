"""The leader's reconciliation: services' tasks against the nodes that are up.

Run by the one manager holding the `leader` key. Each pass reads the nodes, their
liveness, the services and the tasks, and writes only desired states and new tasks;
a task's observed `Status` belongs to the agent of its node. Passes run when the store
changes and at least every second (restart delays, update delays).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from pier import timefmt
from pier.errors import PierError
from pier.swarm import docs, ids, servicespec
from pier.swarm.rollout import Rollout
from pier.swarm.scheduler import NodeView, Placed, fits, host_ports, pick
from pier.swarm.session import Session
from pier.swarm.store import Doc, mutate

log = logging.getLogger(__name__)

DEFAULT_RESTART_DELAY = 5 * docs.SECOND


class Orchestrator:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._store = session.store
        self._wake = asyncio.Event()
        self._rollout = Rollout(store=session.store, create=self._new_task)
        self._timed = False  # this pass left work that waits on time

    def kick(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            self._timed = False
            try:
                await self.reconcile()
            except PierError as exc:
                log.warning("orchestrator: %s", exc)
                self._timed = True
            except Exception:
                log.exception("orchestrator pass failed")
                self._timed = True
            # Waiting on time (a restart delay, an update's next batch) needs a pass
            # soon; otherwise only changes in the store do, and idle stays cheap.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._idle_wait())
            # Changes come in bursts (a service's tasks); one pass serves a burst.
            await asyncio.sleep(0.05)

    def _idle_wait(self) -> float:
        """Seconds until the next pass that time alone calls for. An update completes
        on time, not up to a second late: the CLI acts on it as soon as it returns."""
        wait = 1.0 if self._timed else 10.0
        due = self._rollout.next_due()
        if due is not None:
            wait = min(wait, max(0.0, (due - time.time_ns()) / docs.SECOND))
        return wait

    async def reconcile(self) -> None:
        store = self._store
        alive = {d.id for d in await store.list("alive")}
        nodes = [
            NodeView(id=n.id, body=n.body, ready=n.id in alive) for n in await store.list("nodes")
        ]
        services = {s.id: s for s in await store.list("services")}
        self._rollout.forget_removed(services.keys())
        tasks = await store.list("tasks")
        by_service: dict[str, list[Doc]] = defaultdict(list)
        for t in tasks:
            by_service[t["ServiceID"]].append(t)
        placed = [
            Placed(
                node_id=t["NodeID"],
                service_id=t["ServiceID"],
                template=t["Spec"],
                host_ports=host_ports(t.get("_Ports") or []),
            )
            for t in tasks
            if t["DesiredState"] == "running" and t.get("NodeID")
        ]
        for sid, stasks in by_service.items():
            if sid not in services:
                await self._remove_orphans(stasks, alive)
        for service in services.values():
            await self._service(service, by_service.get(service.id, []), nodes, placed)

    async def _remove_orphans(self, tasks: list[Doc], alive: set[str]) -> None:
        for t in tasks:
            if t.get("NodeID") in alive:
                if t["DesiredState"] != "remove":
                    await self._set_desired(t, "remove")
            else:
                await self._store.delete("tasks", t.id)

    async def _set_desired(self, task: Doc, state: str, message: str = "") -> None:
        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            if docs.state_order(body["DesiredState"]) >= docs.state_order(state):
                return None
            body["DesiredState"] = state
            body["UpdatedAt"] = timefmt.now()
            if message and not docs.terminal(body["Status"]["State"]):
                body["_Why"] = message
            return body

        await mutate(self._store, "tasks", task.id, change)

    async def _service(
        self, service: Doc, tasks: list[Doc], nodes: list[NodeView], placed: list[Placed]
    ) -> None:
        spec = service["Spec"]
        by_node = {n.id: n for n in nodes}
        live: list[Doc] = []
        restart_now: set[int | str] = set()
        for t in tasks:
            if t["DesiredState"] != "running":
                continue
            node = by_node.get(t.get("NodeID") or "")
            slot = self._slot_key(t)
            if t.get("NodeID") and (node is None or not node.ready):
                await self._set_desired(t, "shutdown", "node is down")
                restart_now.add(slot)
                _unplace(placed, t)
            elif node is not None and not node.active:
                await self._set_desired(t, "shutdown", "node is drained")
                restart_now.add(slot)
                _unplace(placed, t)
            elif docs.terminal(t["Status"]["State"]):
                await self._set_desired(t, "shutdown")
                _unplace(placed, t)
            else:
                if not t.get("NodeID"):
                    await self._schedule(service, t, nodes, placed)
                    self._timed = True
                live.append(t)
        history = [t for t in tasks if t["DesiredState"] != "running" or t not in live]
        if servicespec.is_global(spec):
            await self._global(service, live, history, nodes, placed)
        else:
            await self._replicated(service, live, history, restart_now, nodes, placed)
        status = (service.get("UpdateStatus") or {}).get("State")
        if status in ("updating", "rollback_started"):
            self._timed = True
        await self._rollout.step(service, tasks, live, nodes, placed)
        await self._prune(service, tasks)

    async def _schedule(
        self, service: Doc, task: Doc, nodes: list[NodeView], placed: list[Placed]
    ) -> None:
        """A pending task gets a node once one fits."""
        ports = host_ports(service.get("Endpoint", {}).get("Ports") or [])
        chosen, why = pick(
            nodes, service_id=service.id, template=task["Spec"], ports=ports, placed=placed
        )

        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            if body.get("NodeID") or body["DesiredState"] != "running":
                return None
            now = timefmt.now()
            if chosen is None:
                if body["Status"].get("Err") == why:
                    return None
                body["Status"] = {**body["Status"], "Err": why, "Timestamp": now}
            else:
                body["NodeID"] = chosen
                body["Status"] = {
                    "Timestamp": now,
                    "State": "assigned",
                    "Message": "assigned",
                    "PortStatus": {},
                }
            body["UpdatedAt"] = now
            return body

        await mutate(self._store, "tasks", task.id, change)
        if chosen is not None:
            placed.append(
                Placed(
                    node_id=chosen,
                    service_id=service.id,
                    template=task["Spec"],
                    host_ports=ports,
                )
            )

    @staticmethod
    def _slot_key(task: Doc) -> int | str:
        return int(task.get("Slot") or 0) or str(task.get("NodeID") or "")

    async def _replicated(
        self,
        service: Doc,
        live: list[Doc],
        history: list[Doc],
        restart_now: set[int | str],
        nodes: list[NodeView],
        placed: list[Placed],
    ) -> None:
        wanted = servicespec.replicas(service["Spec"])
        slots: dict[int, list[Doc]] = defaultdict(list)
        for t in live:
            slots[int(t["Slot"])].append(t)
        for slot, ts in slots.items():
            if slot > wanted:  # scaled down: at once, so the CLI's progress converges
                for t in ts:
                    await self._set_desired(t, "shutdown")
                    _unplace(placed, t)
        for slot in range(1, wanted + 1):
            if slots.get(slot):
                continue
            if slot not in restart_now and not self._may_restart(service, slot, history):
                self._timed = True
                continue
            await self._new_task(service, nodes, placed, slot=slot)

    async def _global(
        self,
        service: Doc,
        live: list[Doc],
        history: list[Doc],
        nodes: list[NodeView],
        placed: list[Placed],
    ) -> None:
        template = service["Spec"]["TaskTemplate"]
        ports = host_ports(service.get("Endpoint", {}).get("Ports") or [])
        have = {t["NodeID"] for t in live}
        for node in nodes:
            # Where it runs, only constraints and availability are checked again (its own
            # host ports and reservations are the ones it holds).
            eligible = (
                fits(node, service_id=service.id, template=template, ports=(), placed=[]) is None
            )
            if node.id in have:
                if not eligible:
                    for t in live:
                        if t["NodeID"] == node.id:
                            await self._set_desired(t, "shutdown")
                continue
            room = fits(node, service_id=service.id, template=template, ports=ports, placed=placed)
            if eligible and room is None:
                if self._may_restart(service, node.id, history):
                    await self._new_task(service, nodes, placed, node_id=node.id)
                else:
                    self._timed = True

    def _may_restart(self, service: Doc, slot: int | str, history: list[Doc]) -> bool:
        """Swarm's restart policy for an empty slot whose last task ended."""
        ended = [t for t in history if self._slot_key(t) == slot and t.get("_Gen") is not None]
        if not ended:
            return True
        last = max(ended, key=lambda t: t["CreatedAt"])
        if last.get("_Why"):  # its node went away: no delay, no policy
            return True
        policy = service["Spec"]["TaskTemplate"].get("RestartPolicy") or {}
        condition = policy.get("Condition") or "any"
        state = last["Status"]["State"]
        if not docs.terminal(state) and last["DesiredState"] != "running":
            return True  # shut down by the orchestrator (update, scale): replace
        if condition == "none" or (condition == "on-failure" and state == "complete"):
            return False
        # MaxAttempts counts restarts: the first run is not one.
        attempts = int(policy.get("MaxAttempts") or 0)
        runs = sum(1 for t in ended if t["Status"]["State"] in ("failed", "complete"))
        if attempts and runs > attempts:
            return False
        delay = policy.get("Delay")
        delay_ns = DEFAULT_RESTART_DELAY if delay is None else int(delay)
        ended_at = timefmt.parse_ns(last["Status"]["Timestamp"])
        return time.time_ns() - ended_at >= delay_ns

    async def _new_task(
        self,
        service: Doc,
        nodes: list[NodeView],
        placed: list[Placed],
        *,
        slot: int = 0,
        node_id: str = "",
        by_update: bool = False,
    ) -> None:
        template = service["Spec"]["TaskTemplate"]
        ports = service.get("Endpoint", {}).get("Ports") or []
        why = ""
        if not node_id:
            chosen, why = pick(
                nodes,
                service_id=service.id,
                template=template,
                ports=host_ports(ports),
                placed=placed,
            )
            node_id = chosen or ""
        now = timefmt.now()
        task: dict[str, Any] = {
            "ID": ids.new_id(),
            "CreatedAt": now,
            "UpdatedAt": now,
            "Labels": {},
            "Spec": template,
            "ServiceID": service.id,
            "NodeID": node_id,
            "Status": {
                "Timestamp": now,
                "State": "assigned" if node_id else "pending",
                "Message": "assigned" if node_id else "pending task scheduling",
                **({"Err": why} if why else {}),
                "PortStatus": {},
            },
            "DesiredState": "running",
            "_Gen": int(service.get("_Gen") or 0),
            "_Service": service["Spec"]["Name"],
            "_Ports": ports,
        }
        if slot:
            task["Slot"] = slot
        if by_update:  # watched by the rollout for failures (UpdateConfig.Monitor)
            task["_ByUpdate"] = True
        await self._store.create("tasks", task["ID"], task)
        if node_id:
            placed.append(
                Placed(
                    node_id=node_id,
                    service_id=service.id,
                    template=template,
                    host_ports=host_ports(ports),
                )
            )

    async def _prune(self, service: Doc, tasks: list[Doc]) -> None:
        """Keep swarm's task history (TaskHistoryRetentionLimit per slot)."""
        by_slot: dict[int | str, list[Doc]] = defaultdict(list)
        for t in tasks:
            by_slot[self._slot_key(t)].append(t)
        for ts in by_slot.values():
            done = sorted(
                (
                    t
                    for t in ts
                    if t["DesiredState"] != "running" and docs.terminal(t["Status"]["State"])
                ),
                key=lambda t: t["CreatedAt"],
            )
            for t in done[: max(0, len(ts) - docs.TASK_HISTORY)]:
                await self._store.delete("tasks", t.id)


def _unplace(placed: list[Placed], task: Doc | Mapping[str, Any]) -> None:
    for i, p in enumerate(placed):
        if p.node_id == task.get("NodeID") and p.service_id == task.get("ServiceID"):
            del placed[i]
            return
