"""The daemon's networking settings and a `network create` request, checked."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pier.errors import Forbidden, InvalidParameter, NotFound
from pier.networking import ipam
from pier.networking.ipam import DEFAULT_POOLS, AddressPool
from pier.networking.model import BRIDGE_OPTION, EMPTY, PREDEFINED, IPAMConfig

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSettings:
    bridge: str = "pier0"  # the default bridge's device (daemon.json `bridge`)
    bip: str = ""  # its address and prefix (`bip`); else the first free pool subnet
    pools: tuple[AddressPool, ...] = DEFAULT_POOLS  # `default-address-pools`
    iptables: bool = True  # `iptables`: false leaves the host's rules alone
    nft_table: str = "pier"  # Pier's own: the nftables table (ip family) it owns
    dns: tuple[str, ...] = ()  # `dns`: resolvers for containers, else the host's
    ipv6: bool = False  # `ipv6`: the default bridge has IPv6 too
    fixed_cidr_v6: str = ""  # `fixed-cidr-v6`: its IPv6 subnet, else one of the ULA pool
    icc: bool = True  # `icc`: containers on the default bridge may reach each other


@dataclass(frozen=True, slots=True, kw_only=True)
class NewNetwork:
    name: str
    driver: str = "bridge"
    internal: bool = False
    attachable: bool = False
    ipv6: bool = False
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    options: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    ipam: tuple[IPAMConfig, ...] = ()


def check_new(request: NewNetwork, drivers: Mapping[str, object]) -> None:
    """moby's checks of a create request, with its wording and statuses."""
    if request.name in PREDEFINED:
        raise Forbidden(f"{request.name} is a pre-defined network and cannot be created")
    if not request.name or not _NAME.match(request.name):
        raise InvalidParameter(
            f'invalid network name "{request.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'
        )
    if request.driver not in drivers or request.driver in ("host", "null"):
        if request.driver in ("host", "null"):
            raise Forbidden(f'only one instance of "{request.driver}" network is allowed')
        raise NotFound(f'plugin "{request.driver}" not found')
    device = request.options.get(BRIDGE_OPTION, "")
    if device and (len(device) > 15 or not re.fullmatch(r"[A-Za-z0-9_.-]+", device)):
        raise InvalidParameter(f"invalid bridge name: {device}")
    mtu = request.options.get("com.docker.network.driver.mtu")
    if mtu is not None and (not mtu.isdigit() or not 68 <= int(mtu) <= 65535):
        raise InvalidParameter(f"invalid MTU number: {mtu}")
    for cfg in request.ipam:
        subnet = ipam.parse_net(cfg.subnet)
        if subnet.version == 6 and not request.ipv6:
            raise InvalidParameter(
                f"invalid network config:\nIPv6 subnet {cfg.subnet} provided but IPv6 "
                "is not enabled"
            )
        if cfg.gateway:
            gw = ipam.parse_ip(cfg.gateway)
            if gw.version != subnet.version or gw not in subnet:
                raise InvalidParameter(
                    f"invalid network config:\ninvalid gateway {cfg.gateway}: it does not "
                    f"belong to the subnet {subnet}"
                )
        for name, aux in cfg.aux_addresses.items():
            _check_aux(name, aux, subnet)
        if cfg.ip_range:
            span = ipam.parse_net(cfg.ip_range, "ip-range")
            if not ipam.overlaps(span, subnet) or not span.subnet_of(subnet):  # type: ignore[arg-type]
                raise InvalidParameter(
                    f"invalid network config:\ninvalid ip-range {cfg.ip_range}: it must be "
                    f"within the subnet {subnet}"
                )


def _check_aux(name: str, address: str, subnet: ipam.IPNet) -> None:
    """moby's ValidateIPAM for one auxiliary address, in its words."""
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        reason = "invalid address"
    else:
        if addr.version != subnet.version:
            reason = f"parent subnet is an IPv{subnet.version} block"
        elif addr not in subnet:
            reason = f"parent subnet {subnet} doesn't contain this address"
        else:
            return
    raise InvalidParameter(f"invalid network config:\ninvalid auxiliary address {name}: {reason}")
