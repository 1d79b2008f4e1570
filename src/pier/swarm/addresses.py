"""Listen and advertise addresses as dockerd reads them (host[:port], port 2377)."""

from __future__ import annotations

import ipaddress
import socket

from pier.errors import InvalidParameter

DEFAULT_PORT = 2377


def split(addr: str, what: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep:
        host, port = addr, str(default_port)
    host = host.strip("[]")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidParameter(f"invalid {what} {addr!r}: invalid port")
    return host, int(port)


def join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def advertise(listen_host: str, advertise: str, listen_port: int) -> tuple[str, int]:
    """The address other nodes reach this one at: the one given, else the listen
    address if it is specific, else the address of the interface that routes out."""
    if advertise:
        host, port = split(advertise, "AdvertiseAddr", listen_port)
        return host, port
    if listen_host not in ("", "0.0.0.0", "::"):
        return listen_host, listen_port
    # No packet is sent: connect() on UDP only picks the route and source address.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            host = probe.getsockname()[0]
        except OSError:
            raise InvalidParameter(
                "could not find the system's IP address - specify one with --advertise-addr"
            ) from None
    if ipaddress.ip_address(host).is_unspecified:
        raise InvalidParameter(
            "could not find the system's IP address - specify one with --advertise-addr"
        )
    return host, listen_port
