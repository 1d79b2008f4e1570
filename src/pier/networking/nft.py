"""Pier's own nftables tables (`ip`, and `ip6` for IPv6 networks, of one name):
outbound NAT, isolation between networks, published ports. Each table is rendered
whole from the networking state and replaced in one `nft -f` transaction, so the
rules are always exactly what the state says: a crash cannot leave a stale rule
that survives the next change, and pierd's start reconciles by rendering once. No
rule goes into another table."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from pier.errors import SystemFailure


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeRules:
    device: str
    subnets: tuple[str, ...]  # IPv4 CIDRs
    subnets6: tuple[str, ...] = ()  # IPv6 CIDRs
    internal: bool = False
    masquerade: bool = True
    icc: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Forward:
    """One published port: host address (or any) and port to a container's."""

    proto: str
    host_ip: str  # "0.0.0.0" = every local address
    host_port: int
    container_ip: str
    container_port: int


def _q(name: str) -> str:
    return '"' + name.replace('"', "") + '"'


def render(table: str, bridges: Sequence[BridgeRules], forwards: Sequence[Forward]) -> str:
    """Both of Pier's tables, each replaced whole: `ip` always, `ip6` while a network
    has an IPv6 subnet or a port is published to an IPv6 address (else it is deleted)."""
    v4 = [f for f in forwards if ":" not in f.container_ip]
    v6 = [f for f in forwards if ":" in f.container_ip]
    text = _table("ip", table, bridges, v4)
    text += f"table ip6 {table} {{\n}}\ndelete table ip6 {table}\n"
    if v6 or any(b.subnets6 for b in bridges):
        text += _table("ip6", table, bridges, v6)
    return text


def _table(
    family: str, table: str, bridges: Sequence[BridgeRules], forwards: Sequence[Forward]
) -> str:
    ip = family  # the match keyword is the family's name: ip saddr, ip6 saddr
    lines = [f"table {family} {table} {{", "}", f"delete table {family} {table}"]
    lines.append(f"table {family} {table} {{")
    devices = [b.device for b in bridges]
    if devices:
        elements = ", ".join(map(_q, devices))
        lines.append(f"  set bridges {{ type ifname; elements = {{ {elements} }} }}")
    else:
        lines.append("  set bridges { type ifname; }")
    # DNAT: from outside and from containers (prerouting), from the host itself
    # including 127.0.0.1 (output).
    lines += [
        "  chain ports {",
        *(_dnat(ip, f) for f in forwards),
        "  }",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        "    fib daddr type local jump ports",
        "  }",
        "  chain output {",
        "    type nat hook output priority -100; policy accept;",
        "    fib daddr type local jump ports",
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
    ]
    for b in bridges:
        dev = _q(b.device)
        for subnet in b.subnets6 if family == "ip6" else b.subnets:
            if b.masquerade and not b.internal:
                lines.append(f"    {ip} saddr {subnet} oifname != {dev} masquerade")
            # A container reaching a published port of its own network through a host
            # address: the reply must come back through the host.
            lines.append(f"    oifname {dev} {ip} saddr {subnet} ct status dnat masquerade")
        if family == "ip":
            # 127.0.0.1:port -> container: the container cannot answer 127.0.0.1.
            lines.append(f"    oifname {dev} fib saddr type local masquerade")
    lines += [
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
    ]
    for b in bridges:
        dev = _q(b.device)
        if b.internal:
            lines.append(f"    iifname {dev} oifname != {dev} drop")
            lines.append(f"    oifname {dev} iifname != {dev} drop")
        else:
            # Containers on different networks cannot reach each other.
            lines.append(f"    iifname {dev} oifname != {dev} oifname @bridges drop")
        if not b.icc:
            lines.append(f"    iifname {dev} oifname {dev} drop")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def _dnat(ip: str, f: Forward) -> str:
    match = f"{f.proto} dport {f.host_port}"
    if f.host_ip not in ("", "0.0.0.0", "::"):
        match = f"{ip} daddr {f.host_ip} {match}"
    target = f"[{f.container_ip}]" if ip == "ip6" else f.container_ip
    return f"    {match} dnat to {target}:{f.container_port}"


def apply(text: str) -> None:
    proc = subprocess.run(["nft", "-f", "-"], input=text.encode(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemFailure(f"nft: {proc.stderr.decode(errors='replace').strip()}")


def remove_table(table: str) -> None:
    subprocess.run(
        ["nft", "-f", "-"],
        input="".join(
            f"table {family} {table} {{}}\ndelete table {family} {table}\n"
            for family in ("ip", "ip6")
        ).encode(),
        capture_output=True,
        check=False,
    )
