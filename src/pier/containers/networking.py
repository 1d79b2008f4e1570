"""What containers need of the networking service, and the run path's network step.

Bridge-type networks get a namespace Pier makes before the runtime creates the
container (joined by path in the OCI spec), so it survives a pierd restart; `host`,
`none` and `container:<ref>` are namespaces the spec describes directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pier.containers.model import Container
from pier.networking.model import AttachRequest, PortBinding
from pier.networking.ports import exposed_bindings


class Sandbox(Protocol):
    @property
    def netns(self) -> Path: ...
    @property
    def own_hosts(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def embedded_dns(self) -> bool: ...
    @property
    def link_hosts(self) -> tuple[tuple[str, str], ...]: ...


class ContainerNetworks(Protocol):
    def plan(self, mode: str, endpoints: Mapping[str, AttachRequest]) -> Sequence[Any]: ...
    def register(
        self,
        cid: str,
        *,
        name: str,
        hostname: str,
        labels: Mapping[str, str],
        plan: Sequence[Any],
    ) -> None: ...
    async def forget(self, cid: str) -> None: ...
    async def run(
        self,
        cid: str,
        *,
        name: str,
        bindings: Sequence[PortBinding],
        dns: Sequence[str],
        links: Sequence[str] = (),
    ) -> Sandbox: ...
    async def release(self, cid: str) -> None: ...
    def host_gateway(self) -> str: ...


def has_own_network(record: Container) -> bool:
    """Whether the container joins networks (bridge, user-defined) through Pier."""
    mode = record.host_config.network_mode or "default"
    return not (mode in ("host", "none") or mode.startswith("container:"))


def bindings_of(record: Container) -> tuple[PortBinding, ...]:
    """-p, and with -P every exposed port that -p did not publish."""
    hc = record.host_config
    bound = {b.key for b in hc.port_bindings}
    extra: tuple[PortBinding, ...] = ()
    if hc.publish_all_ports:
        extra = tuple(
            b for b in exposed_bindings(record.config.exposed_ports) if b.key not in bound
        )
    return hc.port_bindings + extra
