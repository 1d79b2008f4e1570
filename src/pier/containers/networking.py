"""What containers need of the networking service, and the run path's network step.

Bridge-type networks get a namespace Pier makes before the runtime creates the
container (joined by path in the OCI spec), so it survives a pierd restart; `host`,
`none` and `container:<ref>` are namespaces the spec describes directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from pier.containers.model import Container, HostConfig
from pier.errors import InvalidParameter, NoSuchContainer, SystemFailure
from pier.networking.links import LinkTarget, parse_link
from pier.networking.model import AttachRequest, PortBinding
from pier.networking.netns import UsernsOwner
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
    @property
    def link_env(self) -> tuple[str, ...]: ...


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
        links: Sequence[LinkTarget] = (),
        hosts_file: str = "",
        host_names: str = "",
        owner: UsernsOwner | None = None,
    ) -> Sandbox: ...
    async def release(self, cid: str) -> None: ...
    async def rename(self, cid: str, old: str, new: str) -> None: ...
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


_HOST_AND_LINKS = (
    "conflicting options: host type networking can't be used with links. "
    "This would result in undefined behavior"
)


def check_links(mode: str, links: Sequence[str], find: Callable[[str], Container]) -> None:
    """At create, as moby's validateNetMode and registerLinks: links with the host or
    a container's network are refused, and on the default bridge every target must
    exist (a 400, so the CLI does not take it for a missing image)."""
    if not links:
        return
    if mode == "host":
        raise InvalidParameter(_HOST_AND_LINKS)
    if mode.startswith("container:"):
        raise InvalidParameter(
            "conflicting options: container type network can't be used with links. "
            "This would result in undefined behavior"
        )
    if mode not in ("default", "bridge", ""):
        return  # user-defined networks: links are DNS aliases, resolved when asked
    for text in links:
        if _follow(text, find).host_config.network_mode == "host":
            raise InvalidParameter(_HOST_AND_LINKS)


def _follow(text: str, find: Callable[[str], Container]) -> Container:
    name, _ = parse_link(text)
    try:
        child = find(name)
        seen = {child.id}
        while child.host_config.network_mode.startswith("container:"):
            child = find(child.host_config.network_mode.partition(":")[2])
            if child.id in seen:
                # Modes keep the name given at create: a container removed and made
                # again under its name can close a ring, which would never end.
                raise InvalidParameter(
                    f"could not get container for {name}: its container: network modes form a cycle"
                )
            seen.add(child.id)
    except NoSuchContainer as exc:
        raise InvalidParameter(f"could not get container for {name}: {exc}") from None
    return child


def link_targets(record: Container, find: Callable[[str], Container]) -> tuple[LinkTarget, ...]:
    """The legacy links of a container on the default bridge, as its start needs them
    (moby's setupLinkedContainers): each target followed through `container:` modes,
    and running. On user-defined networks links are DNS aliases (not handled here)."""
    if (record.host_config.network_mode or "default") not in ("default", "bridge"):
        return ()
    out = []
    for text in record.host_config.links:
        alias = parse_link(text)[1]
        child = _follow(text, find)
        link_name = f"/{record.name}/{alias}"
        if not child.state.running:
            raise SystemFailure(
                f"Cannot link to a non running container: /{child.name} AS {link_name}"
            )
        out.append(
            LinkTarget(
                container_id=child.id,
                name=child.name,
                alias=alias,
                link_name=link_name,
                hostname=child.config.hostname,
                env=child.config.env,
                exposed_ports=child.config.exposed_ports,
            )
        )
    return tuple(out)


def endpoints_with_links(hc: HostConfig) -> Mapping[str, AttachRequest]:
    """On a user-defined network `--link target:alias` is a name the container's DNS
    resolves to the target: the links go with the request for that network."""
    mode = hc.network_mode or "default"
    if not hc.links or mode in ("default", "bridge", "host", "none") or ":" in mode:
        return hc.endpoints
    request = hc.endpoints.get(mode) or AttachRequest()
    if request.links:
        return hc.endpoints
    return {**hc.endpoints, mode: replace(request, links=hc.links)}
