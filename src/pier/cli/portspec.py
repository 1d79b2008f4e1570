"""`-p/--publish` and `--expose` as the docker CLI reads them (convertToStandardNotation,
then go-connections' nat.ParsePortSpecs; --expose ranges expanded): ranges become one
entry per port, bad values raise ValueError with the docker CLI's words."""

from __future__ import annotations

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _uint16(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    if int(text) > 65535:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return int(text)


def port_range(ports: str) -> tuple[int, int]:
    """nat.ParsePortRange."""
    if not ports:
        raise ValueError("empty string specified for ports")
    if "-" not in ports:
        start = _uint16(ports)
        return start, start
    parts = ports.split("-")
    start, end = _uint16(parts[0]), _uint16(parts[1])
    if end < start:
        raise ValueError(f"invalid range specified for port: {ports}")
    return start, end


def split_proto_port(raw: str) -> tuple[str, str]:
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _standard(spec: str) -> str:
    """convertToStandardNotation: `published=8080,target=80,protocol=udp`."""
    if "=" not in spec:
        return spec
    params = {"protocol": "tcp"}
    for param in spec.split(","):
        key, eq, value = param.partition("=")
        if not eq or not key:
            raise ValueError(
                f"invalid publish opts format (should be name=value but got '{param}')"
            )
        params[key] = value
    return f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"


def _mappings(raw: str) -> list[tuple[str, dict[str, str]]]:
    """nat.ParsePortSpec."""
    import ipaddress

    parts = raw.split(":")
    cport = parts[-1]
    if len(parts) > 2:
        ip, host = ":".join(parts[:-2]), parts[-2]
    else:
        ip, host = "", parts[0] if len(parts) == 2 else ""
    proto, cport = split_proto_port(cport)
    if ip.startswith("["):
        if not ip.endswith("]"):
            raise ValueError(f"invalid IP address {ip}: address {ip}: missing ']' in address")
        ip = ip[1:-1]
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ValueError("invalid IP address: " + ip) from None
    if not cport:
        raise ValueError(f"no port specified: {raw}<empty>")
    try:
        start, end = port_range(cport)
    except ValueError:
        raise ValueError("invalid containerPort: " + cport) from None
    hstart = hend = 0
    if host:
        try:
            hstart, hend = port_range(host)
        except ValueError:
            raise ValueError("invalid hostPort: " + host) from None
        if end - start != hend - hstart and end != start:
            raise ValueError(f"invalid ranges specified for container and host Ports: {cport} "
                             f"and {host}")  # fmt: skip
    proto = proto.lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError("invalid proto: " + proto)
    count = end - start + 1
    out = []
    for i in range(count):
        hport = ""
        if host:
            hport = str(hstart + i)
            # One container port and a host range: the range to pick a free port from.
            if count == 1 and hstart != hend:
                hport += f"-{hend}"
        out.append((f"{start + i}/{proto}", {"HostIp": ip, "HostPort": hport}))
    return out


def ports(specs: list[str], exposed: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Config.ExposedPorts and HostConfig.PortBindings."""
    exposed_ports: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        for key, binding in _mappings(_standard(spec)):
            exposed_ports[key] = {}
            bindings.setdefault(key, []).append(binding)
    for item in exposed:
        if ":" in item:
            raise ValueError(f"invalid port format for --expose: {item}")
        proto, port = split_proto_port(item)
        try:
            start, end = port_range(port)
        except ValueError as exc:
            raise ValueError(f"invalid range format for --expose: {item}, error: {exc}") from None
        for number in range(start, end + 1):
            exposed_ports.setdefault(f"{number}/{proto}", {})
    return exposed_ports, bindings
