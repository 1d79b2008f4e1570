"""Networks, the attachments of containers to them and published ports: the values
the networking service records and hands out.

A `Network` is what `network create` asked for, completed (subnet chosen, gateway,
bridge device). An `Attachment` is a container's request to be on a network (made
at create or by `network connect`); while the container runs it has an `Endpoint`
(address, MAC, interface). A `PortBinding` is a `-p` request; a `PortMapping` is
the host port it got.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

EMPTY: Mapping[str, str] = MappingProxyType({})

DEFAULT_BRIDGE = "bridge"
PREDEFINED = ("bridge", "host", "none")
# Network modes that are not networks a container joins through a driver.
BRIDGE_OPTION = "com.docker.network.bridge.name"


@dataclass(frozen=True, slots=True, kw_only=True)
class IPAMConfig:
    """One of a network's IPAM pools (swagger IPAMConfig)."""

    subnet: str
    gateway: str = ""
    ip_range: str = ""
    # Addresses kept out of allocation for the driver's own use (--aux-address name=ip).
    aux_addresses: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    id: str
    name: str
    driver: str  # bridge, host, null
    created: str
    scope: str = "local"
    internal: bool = False
    attachable: bool = False
    ipv6: bool = False
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    options: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    ipam: tuple[IPAMConfig, ...] = ()
    # Whether the subnets came from the user (static) or a default pool.
    ipam_static: bool = False
    device: str = ""  # the bridge's interface name
    # The default bridge: containers on it have no embedded DNS and --ip is refused.
    default_bridge: bool = False

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def is_bridge(self) -> bool:
        return self.driver == "bridge"


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachRequest:
    """What a container asked of one network (EndpointSettings at create/connect)."""

    aliases: tuple[str, ...] = ()
    ipv4: str = ""
    ipv6: str = ""
    mac: str = ""
    links: tuple[str, ...] = ()
    driver_opts: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """A running container's interface on a network."""

    endpoint_id: str
    ifname: str  # inside the container: eth0, eth1...
    host_ifname: str  # the veth on the bridge
    ipv4: str
    prefix_len: int
    gateway: str
    mac: str
    ipv6: str = ""
    ipv6_prefix_len: int = 0
    ipv6_gateway: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    container_id: str
    network_id: str
    order: int  # connection order: eth0 is the first
    container_name: str = ""  # for errors and network inspect
    # A network named at create that did not exist yet (dockerd allows it; the start
    # fails unless it exists by then): network_id is "" until it is resolved.
    network_name: str = ""

    @property
    def key(self) -> str:
        return self.network_id or f"?{self.network_name}"

    request: AttachRequest = field(default_factory=AttachRequest)
    dns_names: tuple[str, ...] = ()
    endpoint: Endpoint | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PortBinding:
    """One `-p`: container port ("80/tcp") to a host address and port ("" = any)."""

    container_port: int
    proto: str  # tcp, udp, sctp
    host_ip: str = ""
    host_port: str = ""  # "" or "0" = a free one; "8000-8010" = one of the range

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.proto}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PortMapping:
    """A published port as it is while the container runs."""

    container_port: int
    proto: str
    host_ip: str  # "0.0.0.0" for any
    host_port: int
    container_ip: str

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.proto}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerNetworking:
    """What inspect, ps and `port` show of a container's networking."""

    mode: str
    attachments: tuple[tuple[Network, Attachment], ...] = ()
    ports: tuple[PortMapping, ...] = ()
    requested_ports: tuple[PortBinding, ...] = ()
    sandbox_key: str = ""
