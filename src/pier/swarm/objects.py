"""/nodes, /services and /tasks of a manager, for the API's swarm router."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from pier.errors import NotImplementedByPier
from pier.swarm.lifecycle import SwarmLifecycle
from pier.swarm.logs import ServiceLogs
from pier.swarm.nodes import Nodes
from pier.swarm.services import Services


class SwarmObjects:
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

    def _nodes(self) -> Nodes:
        return Nodes(self.lifecycle.manager())

    def _services(self) -> Services:
        return Services(self.lifecycle.manager(), generate_name=self._generate_name)

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
