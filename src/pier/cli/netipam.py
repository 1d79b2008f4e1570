"""`network create`'s --subnet, --ip-range, --gateway and --aux-address gathered into
IPAM configs per subnet, as the docker CLI's createIPAMConfig does (each value goes to
the subnet that contains it, not to the one given at the same position)."""

from __future__ import annotations

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
    from typing import Any


def _cidr(text: str) -> tuple[IPv4Address | IPv6Address, IPv4Network | IPv6Network]:
    """Go's net.ParseCIDR: the address and its network (host bits allowed)."""
    import ipaddress

    addr, sep, _ = text.partition("/")
    try:
        if not sep:
            raise ValueError(text)
        return ipaddress.ip_address(addr), ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"invalid CIDR address: {text}") from None


def _matches(subnet: str, data: str) -> bool:
    """subnetMatches: does `subnet` contain the address (or CIDR's address) `data`."""
    import ipaddress

    try:
        _, net = _cidr(subnet)
    except ValueError as exc:
        raise ValueError(f"invalid subnet: {exc}") from None
    if "/" in data:
        ip, _ = _cidr(data)
    else:
        try:
            ip = ipaddress.ip_address(data)
        except ValueError:
            return False
    return ip.version == net.version and ip in net


def ipam_config(
    subnets: list[str], ranges: list[str], gateways: list[str], aux: dict[str, str]
) -> list[dict[str, Any]]:
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise ValueError("every ip-range or gateway must have a corresponding subnet")
    data: dict[str, dict[str, Any]] = {}
    for s in subnets:
        for k in data:
            if _matches(s, k) or _matches(k, s):
                raise ValueError("multiple overlapping subnet configuration is not supported")
        data[s] = {"Subnet": s, "AuxiliaryAddresses": {}}
    for what, key, values in (("range", "IPRange", ranges), ("gateway", "Gateway", gateways)):
        for v in values:
            match = False
            for s in subnets:
                if key == "IPRange":
                    _cidr(v)
                if not _matches(s, v):
                    continue
                if data[s].get(key):
                    plural = "ranges" if key == "IPRange" else "gateways"
                    where = "on" if key == "IPRange" else "for"
                    raise ValueError(f"cannot configure multiple {plural} ({v}, {data[s][key]}) "
                                     f"{where} the same subnet ({s})")  # fmt: skip
                data[s][key] = v
                match = True
            if not match:
                raise ValueError(f"no matching subnet for {what} {v}")
    for name, address in aux.items():
        match = False
        for s in subnets:
            if _matches(s, address):
                data[s]["AuxiliaryAddresses"][name] = address
                match = True
        if not match:
            raise ValueError(f"no matching subnet for aux-address {address}")
    return list(data.values())
