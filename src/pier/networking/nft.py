"""Pier's own nftables table: outbound NAT, isolation between networks, published
ports. The whole table is rendered from the networking state and replaced in one
`nft -f` transaction, so the rules are always exactly what the state says: a crash
cannot leave a stale rule that survives the next change, and pierd's start
reconciles by rendering once. No rule goes into another table."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from pier.errors import SystemFailure


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeRules:
    device: str
    subnets: tuple[str, ...]  # IPv4 CIDRs
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
    lines = [f"table ip {table} {{", "}", f"delete table ip {table}", f"table ip {table} {{"]
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
        *(_dnat(f) for f in forwards),
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
        for subnet in b.subnets:
            if b.masquerade and not b.internal:
                lines.append(f"    ip saddr {subnet} oifname != {dev} masquerade")
            # A container reaching a published port of its own network through a host
            # address: the reply must come back through the host.
            lines.append(f"    oifname {dev} ip saddr {subnet} ct status dnat masquerade")
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


def _dnat(f: Forward) -> str:
    match = f"{f.proto} dport {f.host_port}"
    if f.host_ip not in ("", "0.0.0.0"):
        match = f"ip daddr {f.host_ip} {match}"
    return f"    {match} dnat to {f.container_ip}:{f.container_port}"


def apply(text: str) -> None:
    proc = subprocess.run(["nft", "-f", "-"], input=text.encode(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemFailure(f"nft: {proc.stderr.decode(errors='replace').strip()}")


def remove_table(table: str) -> None:
    subprocess.run(
        ["nft", "-f", "-"],
        input=f"table ip {table} {{}}\ndelete table ip {table}\n".encode(),
        capture_output=True,
        check=False,
    )
