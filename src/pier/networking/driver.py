"""The NetworkDriver interface (DESIGN §4) and the trivial host and null drivers.

A driver does the host plumbing of one kind of network; the service decides names,
addresses and order. Every method is blocking (netlink, sysctls) and is called from
a worker thread. `create` and `delete` are idempotent: `create` of a network whose
device exists brings it in line (a restart), `delete` of one already gone is fine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pier.networking.model import Endpoint, Network


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointPlan:
    """What the service decided for one endpoint; the driver makes it so."""

    endpoint_id: str
    ifname: str  # in the container
    host_ifname: str
    ipv4: str
    prefix_len: int
    gateway: str
    mac: str
    default_route: bool  # the first network with a gateway gives the default route
    ipv6: str = ""
    ipv6_prefix_len: int = 0
    ipv6_gateway: str = ""


class NetworkDriver(Protocol):
    name: str

    def create(self, net: Network) -> None: ...
    def delete(self, net: Network) -> None: ...
    def join(self, net: Network, plan: EndpointPlan, netns: Path) -> Endpoint: ...
    def leave(self, net: Network, endpoint: Endpoint) -> None: ...


def _no_endpoint(plan: EndpointPlan) -> Endpoint:
    return Endpoint(
        endpoint_id=plan.endpoint_id,
        ifname="",
        host_ifname="",
        ipv4="",
        prefix_len=0,
        gateway="",
        mac="",
    )


class HostDriver:
    """`--network host`: the container shares the host's namespace; nothing to do."""

    name = "host"

    def create(self, net: Network) -> None:
        pass

    def delete(self, net: Network) -> None:
        pass

    def join(self, net: Network, plan: EndpointPlan, netns: Path) -> Endpoint:
        return _no_endpoint(plan)

    def leave(self, net: Network, endpoint: Endpoint) -> None:
        pass


class NullDriver(HostDriver):
    """`--network none`: a namespace of its own with only loopback."""

    name = "null"
