"""SwarmService: the one object the API's swarm routers talk to. Each operation
checks this node's standing (in a swarm, a manager) with moby's wording, then
delegates to the lifecycle, the nodes or the services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from pier.errors import NotImplementedByPier
from pier.swarm import docs
from pier.swarm.lifecycle import SwarmLifecycle
from pier.swarm.logs import ServiceLogs
from pier.swarm.nodes import Nodes
from pier.swarm.services import Services


class SwarmService:
    def __init__(
        self,
        *,
        lifecycle: SwarmLifecycle,
        generate_name: Callable[[Callable[[str], bool]], str],
        logs: ServiceLogs,
    ) -> None:
        self.lifecycle = lifecycle
        self._generate_name = generate_name
        self._logs = logs

    async def start(self) -> None:
        await self.lifecycle.start()

    async def close(self) -> None:
        await self.lifecycle.close()

    def _nodes(self) -> Nodes:
        return Nodes(self.lifecycle.manager())

    def _services(self) -> Services:
        return Services(self.lifecycle.manager(), generate_name=self._generate_name)

    # -- swarm -----------------------------------------------------------------------

    async def init(self, req: Mapping[str, Any]) -> str:
        return await self.lifecycle.init(req)

    async def join(self, req: Mapping[str, Any]) -> None:
        await self.lifecycle.join(req)

    async def leave(self, *, force: bool) -> None:
        await self.lifecycle.leave(force=force)

    async def inspect(self) -> dict[str, Any]:
        return await self.lifecycle.inspect()

    async def update(self, spec: Mapping[str, Any], **kwargs: Any) -> None:
        await self.lifecycle.update(spec, **kwargs)

    def unlock_key(self) -> None:
        self.lifecycle.unlock_key()

    def unlock(self) -> None:
        self.lifecycle.unlock()

    def refuse(self, what: str) -> None:
        self.lifecycle.refuse(what)

    def check_manager(self) -> None:
        self.lifecycle.manager()

    def status(self) -> str:
        """The `Swarm` header of /_ping."""
        session = self.lifecycle.session
        if session is None:
            return "inactive"
        return "active/manager" if session.manager else "active/worker"

    async def info(self) -> dict[str, Any]:
        """/info's `Swarm` block (moby api/types/swarm Info)."""
        session = self.lifecycle.session
        if session is None:
            return {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            }
        out: dict[str, Any] = {
            "NodeID": session.node_id,
            "NodeAddr": session.state.advertise_host,
            "LocalNodeState": "active",
            "ControlAvailable": session.manager,
            "Error": "",
            "RemoteManagers": [],
        }
        try:
            nodes = await session.store.list("nodes")
            out["RemoteManagers"] = [
                {"NodeID": n.id, "Addr": n["ManagerStatus"]["Addr"]}
                for n in nodes
                if n["Spec"].get("Role") == "manager" and "ManagerStatus" in n.body
            ]
            if session.manager:
                out["Nodes"] = len(nodes)
                out["Managers"] = len(out["RemoteManagers"])
                cluster = await session.store.get("cluster", "")
                if cluster is not None:
                    out["Cluster"] = docs.render_swarm(cluster, with_tokens=False)
        except Exception as exc:  # the store is away: say so, as dockerd's Error
            out["Error"] = str(exc)
        return out

    # -- nodes ---------------------------------------------------------------------

    async def nodes(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        return await self._nodes().list(filters)

    async def node(self, ref: str) -> dict[str, Any]:
        return await self._nodes().get(ref)

    async def update_node(self, ref: str, *, version: int, spec: Mapping[str, Any]) -> None:
        await self._nodes().update(ref, version=version, spec=spec)

    async def remove_node(self, ref: str, *, force: bool) -> None:
        await self._nodes().remove(ref, force=force)

    # -- services and tasks ----------------------------------------------------------

    async def create_service(self, spec: Mapping[str, Any]) -> str:
        return await self._services().create(spec)

    async def services(
        self, filters: Mapping[str, Sequence[str]], *, status: bool
    ) -> list[dict[str, Any]]:
        return await self._services().list(filters, status=status)

    async def service(self, ref: str, *, insert_defaults: bool) -> dict[str, Any]:
        return await self._services().get(ref, insert_defaults=insert_defaults)

    async def update_service(
        self, ref: str, *, version: int, spec: Mapping[str, Any], rollback: bool
    ) -> list[str]:
        return await self._services().update(ref, version=version, spec=spec, rollback=rollback)

    async def remove_service(self, ref: str) -> None:
        await self._services().remove(ref)

    async def tasks(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        return await self._services().tasks(filters)

    async def task(self, ref: str) -> dict[str, Any]:
        return await self._services().task(ref)

    def logs(self, kind: str, ref: str, options: Mapping[str, str]) -> AsyncIterator[bytes]:
        session = self.lifecycle.manager()
        if kind not in ("service", "task"):
            raise NotImplementedByPier(kind)
        return self._logs.stream(session, kind, ref, options)
