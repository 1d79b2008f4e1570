"""Legacy links (`--link name:alias`) on the default bridge, as moby's daemon/links:
the environment variables a linked container gets and its /etc/hosts entries.

On user-defined networks a link is only a name the linking container's embedded DNS
resolves to the target (see Catalog.lookup); nothing here applies to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pier.errors import InvalidParameter


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkTarget:
    """A container another links to, as the link needs it at the linker's start."""

    container_id: str
    name: str  # the target's name, without "/"
    alias: str
    link_name: str  # "/<linker>/<alias>": the value of <ALIAS>_NAME
    hostname: str
    env: tuple[str, ...] = ()
    exposed_ports: tuple[str, ...] = ()  # "80/tcp"


def parse_link(text: str) -> tuple[str, str]:
    """moby's opts.ParseLink: "name:alias" or "name" (the alias is the name); a
    leading "/" and a "/parent/" prefix of the alias are dropped."""
    if not text:
        raise InvalidParameter("empty string specified for links")
    parts = text.split(":")
    if len(parts) > 2:
        raise InvalidParameter(f"bad format for links: {text}")
    name = parts[0].lstrip("/")
    alias = parts[1] if len(parts) == 2 else name
    return name, alias.rsplit("/", 1)[-1] if alias.startswith("/") else alias


def _number(port: str) -> int:
    """go-connections' Port.Int: the number, 0 when it is not one of 16 bits (the API
    takes any ExposedPorts key; a link's variables are made of it all the same)."""
    if not (port.isascii() and port.isdigit()):
        return 0
    value = int(port)
    return value if value < 1 << 16 else 0


def _port_key(port: str) -> tuple[int, str, int]:
    number, _, proto = port.partition("/")
    proto = (proto or "tcp").lower()
    # TCP first, then the other protocols by name; by number within a protocol.
    return (0 if proto == "tcp" else 1, proto, _number(number))


def link_env(target: LinkTarget, address: str) -> tuple[str, ...]:
    """moby's Link.ToEnv for the target at `address`."""
    alias = target.alias.rsplit("/", 1)[-1].upper().replace("-", "_")
    ports = sorted(
        (p if "/" in p else f"{p}/tcp" for p in target.exposed_ports if p.partition("/")[0]),
        key=_port_key,
    )
    env: list[str] = []
    start = end = ""
    for i, port in enumerate(ports):
        number, _, proto = port.partition("/")
        if i == 0:
            start = end = port
            env.append(f"{alias}_PORT={proto}://{address}:{number}")
        prefix = f"{alias}_PORT_{number}_{proto.upper()}"
        env += [
            f"{prefix}={proto}://{address}:{number}",
            f"{prefix}_ADDR={address}",
            f"{prefix}_PORT={number}",
            f"{prefix}_PROTO={proto}",
        ]
        end_number = end.partition("/")[0]
        start_proto = start.partition("/")[2]
        # A run of consecutive ports of one protocol also gets _START and _END.
        if _number(number) == _number(end_number) + 1 and proto.lower() == start_proto.lower():
            end = port
            if i < len(ports) - 1:
                continue
        if end != start:
            s_number = start.partition("/")[0]
            e_number, _, e_proto = end.partition("/")
            prefix = f"{alias}_PORT_{s_number}_{start_proto.upper()}"
            env += [
                f"{prefix}_START={start_proto}://{address}:{s_number}",
                f"{prefix}_PORT_START={s_number}",
                f"{prefix}_END={e_proto}://{address}:{e_number}",
                f"{prefix}_PORT_END={e_number}",
            ]
        start = end = port
    env.append(f"{alias}_NAME={target.link_name}")
    for item in target.env:
        key, sep, value = item.partition("=")
        if sep and key not in ("HOME", "PATH"):
            env.append(f"{alias}_ENV_{key}={value}")
    return tuple(env)


def hosts_names(target: LinkTarget) -> str:
    """The names of the target's /etc/hosts line: alias, hostname, then the name
    unless it is the alias (moby's addLegacyLinks)."""
    names = [target.alias, target.hostname]
    if target.alias != target.name:
        names.append(target.name)
    return " ".join(names)


def hosts_entries(
    targets: Sequence[LinkTarget], addresses: Mapping[str, tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """(address, names) per target and address family, in link order."""
    out: list[tuple[str, str]] = []
    for target in targets:
        v4, v6 = addresses.get(target.container_id, ("", ""))
        out += [(ip, hosts_names(target)) for ip in (v4, v6) if ip]
    return tuple(out)
