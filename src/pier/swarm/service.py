"""SwarmService: what the API's swarm router asks of this node's swarm membership
(init, join, leave, inspect, update, /info's block, /_ping's header); its `objects`
serve /nodes, /services and /tasks. Each operation checks this node's standing (in a
swarm, a manager) with moby's wording, then delegates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pier.swarm import docs
from pier.swarm.lifecycle import SwarmLifecycle
from pier.swarm.logs import ServiceLogs
from pier.swarm.objects import SwarmObjects


class SwarmService:
    def __init__(
        self,
        *,
        lifecycle: SwarmLifecycle,
        generate_name: Callable[[Callable[[str], bool]], str],
        logs: ServiceLogs,
    ) -> None:
        self.lifecycle = lifecycle
        self.objects = SwarmObjects(lifecycle=lifecycle, generate_name=generate_name, logs=logs)

    async def start(self) -> None:
        await self.lifecycle.start()

    async def close(self) -> None:
        await self.lifecycle.close()

    # -- swarm -----------------------------------------------------------------------

    async def init(self, req: Mapping[str, Any]) -> str:
        return await self.lifecycle.init(req)

    async def join(self, req: Mapping[str, Any]) -> None:
        await self.lifecycle.join(req)

    async def leave(self, *, force: bool) -> None:
        await self.lifecycle.leave(force=force)

    async def inspect(self) -> dict[str, Any]:
        return await self.lifecycle.inspect()

    async def redescribe(self) -> None:
        """The daemon's description changed (its labels were reloaded)."""
        await self.lifecycle.redescribe()

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
