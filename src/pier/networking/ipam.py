"""Address management: subnets for new networks from the default pools, addresses
for endpoints from a network's pool. Pure functions over what is in use."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from pier.errors import Forbidden, InvalidParameter, SystemFailure

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressPool:
    """daemon.json `default-address-pools` entry: subnets of `size` bits from `base`."""

    base: str
    size: int


# dockerd's defaults (libnetwork/ipamutils): 172.17-31 as /16s, then 192.168/16 as /20s.
DEFAULT_POOLS = (
    AddressPool(base="172.17.0.0/16", size=16),
    AddressPool(base="172.18.0.0/15", size=16),
    AddressPool(base="172.20.0.0/14", size=16),
    AddressPool(base="172.24.0.0/13", size=16),
    AddressPool(base="192.168.0.0/16", size=20),
)


def ula_pool(seed: str) -> AddressPool:
    """moby's deriveULABaseNetwork: a /48 of fd00::/8 from 40 bits of a hash of the
    daemon's identity, split into /64s; stable for one daemon, distinct between them."""
    gid = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") & (1 << 40) - 1
    base = ipaddress.IPv6Address(int(ipaddress.IPv6Address("fd00::")) + (gid << 80))
    return AddressPool(base=f"{base}/48", size=64)


def parse_net(text: str, what: str = "subnet") -> IPNet:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidParameter(f"invalid {what} {text}: invalid CIDR address: {text}") from None


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise InvalidParameter(f"invalid IP address: {text}") from None


def overlaps(a: IPNet, b: IPNet) -> bool:
    return a.version == b.version and a.overlaps(b)


def pick_subnet(pools: Iterable[AddressPool], taken: Iterable[IPNet], *, v6: bool = False) -> IPNet:
    """The first pool subnet that overlaps nothing in use (networks and host routes)."""
    used = [t for t in taken if t.version == (6 if v6 else 4)]
    for pool in pools:
        base = parse_net(pool.base)
        if (base.version == 6) != v6:
            continue
        if pool.size < base.prefixlen:
            candidates: Iterable[IPNet] = [base]
        else:
            candidates = base.subnets(new_prefix=pool.size)
        for candidate in candidates:
            if not any(overlaps(candidate, u) for u in used):
                return candidate
    raise Forbidden(
        "all predefined address pools have been fully subnetted"
    )  # moby's ErrNoMoreSubnets wording


def check_no_overlap(subnet: IPNet, existing: Iterable[IPNet]) -> None:
    if any(overlaps(subnet, e) for e in existing):
        raise Forbidden("invalid pool request: Pool overlaps with other one on this address space")


def gateway_of(subnet: IPNet) -> str:
    return str(next(subnet.hosts()))


def allocate(
    subnet: IPNet, *, ip_range: str, gateway: str, used: Iterable[str], last: str = ""
) -> str:
    """A free address in `ip_range` (else the subnet), after `last` when there is one
    (moby's allocator goes round the range rather than reusing at once). Addresses are
    walked as integers: a /16 has 65534 of them."""
    span = parse_net(ip_range) if ip_range else subnet
    taken = {int(ipaddress.ip_address(a)) for a in [*used, gateway] if a}
    first = int(span.network_address)
    size = span.num_addresses
    # The network's own address and, in IPv4, its broadcast address are not hosts.
    low = first + 1 if size > 2 else first
    high = first + size - (2 if span.version == 4 and size > 2 else 1)
    count = high - low + 1
    start = 0
    if last:
        at = int(ipaddress.ip_address(last))
        if low <= at <= high:
            start = at - low + 1
    for step in range(count):
        candidate = low + (start + step) % count
        if candidate not in taken and candidate != int(subnet.network_address):
            return str(ipaddress.ip_address(candidate))
    raise SystemFailure(f"no available IPv{span.version} addresses on this network's pool")


def check_static(subnet: IPNet | None, static: bool, address: str) -> None:
    """moby's validateEndpointIPAddress, wrapped as its endpoint-settings error."""
    if not address:
        return
    ip = parse_ip(address)
    if subnet is not None and static:
        if ip.version == subnet.version and ip in subnet:
            return
        raise InvalidParameter(
            "invalid endpoint settings:\n"
            f"no configured subnet or ip-range contain the IP address {address}"
        )
    raise InvalidParameter(
        "invalid endpoint settings:\nuser specified IP address is supported only when "
        "connecting to networks with user configured subnets"
    )


def mac_for(address: str) -> str:
    """Docker's MAC from an IPv4 address: 02:42 followed by the address's bytes."""
    raw = ipaddress.IPv4Address(address).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in raw)
