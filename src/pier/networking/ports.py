"""Published ports: Docker's PortBindings parsed into `PortBinding`s at create, and
host ports reserved while a container runs.

A reservation is a socket bound (never listening) to the host address and port and
held by pierd: another program cannot take the port, a port taken already is found
before any rule exists, and no process per port is needed (traffic goes by the
kernel's DNAT, see nft.py). After a pierd restart the ports of running containers
are bound again.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pier.errors import InvalidParameter, SystemFailure
from pier.networking.model import PortBinding, PortMapping

PROTOS = ("tcp", "udp", "sctp")
_SOCK_TYPE = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM, "sctp": socket.SOCK_STREAM}


def _port_number(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 65535:
        raise InvalidParameter(f'invalid port specification: "{text}"')
    return int(text)


def _range(text: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    start = _port_number(low)
    end = _port_number(high) if sep else start
    if end < start:
        raise InvalidParameter(f'invalid port specification: "{text}"')
    return start, end


def split_proto(key: str) -> tuple[str, str]:
    port, _, proto = key.partition("/")
    return port, (proto or "tcp").lower()


def parse_bindings(raw: Any) -> tuple[PortBinding, ...]:
    """HostConfig.PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, with
    moby's validatePortBindings wording for a bad port."""
    if not raw:
        return ()
    if not isinstance(raw, Mapping):
        raise InvalidParameter("json: cannot unmarshal PortBindings")
    out: list[PortBinding] = []
    for key, entries in raw.items():
        port, proto = split_proto(str(key))
        start, end = _range(port)
        if proto not in PROTOS:
            raise InvalidParameter(f'invalid port specification: "{key}"')
        for entry in entries or ():
            host_ip = str(entry.get("HostIp") or "")
            host_port = str(entry.get("HostPort") or "")
            if host_port:
                hstart, hend = _range(host_port.partition("/")[0])
                if end != start and hend - hstart != end - start:
                    raise InvalidParameter(f'invalid port specification: "{host_port}"')
            else:
                hstart = hend = 0
            for offset, cport in enumerate(range(start, end + 1)):
                if end != start and host_port:
                    hp = str(hstart + offset)
                elif hstart and hend != hstart:
                    hp = f"{hstart}-{hend}"
                else:
                    hp = host_port
                if host_ip:
                    try:
                        socket.inet_pton(
                            socket.AF_INET6 if ":" in host_ip else socket.AF_INET, host_ip
                        )
                    except OSError:
                        raise InvalidParameter(f"invalid IP address: {host_ip}") from None
                out.append(
                    PortBinding(container_port=cport, proto=proto, host_ip=host_ip, host_port=hp)
                )
    return tuple(out)


def exposed_bindings(exposed: Iterable[str]) -> tuple[PortBinding, ...]:
    """`-P`: every exposed port to a free host port."""
    out = []
    for key in exposed:
        port, proto = split_proto(key)
        start, end = _range(port)
        out += [PortBinding(container_port=p, proto=proto) for p in range(start, end + 1)]
    return tuple(out)


class PortReservations:
    """The host ports pierd holds, per container. Blocking (binds); one instance."""

    def __init__(self) -> None:
        self._held: dict[str, list[tuple[PortMapping, socket.socket]]] = {}

    def reserve(
        self,
        cid: str,
        bindings: Sequence[PortBinding],
        container_ip: str,
        *,
        endpoint: str,
        container_ip6: str = "",
    ) -> tuple[PortMapping, ...]:
        """Bind every binding's host port, or none of them (Docker's wording). A
        container with an IPv6 address is published on IPv6 too: a binding to any
        address also gets "::" with the same port, as dockerd's; one to an IPv6 host
        address goes to the container's IPv6 address. Without one, IPv6 host addresses
        are not published (the kernel cannot translate IPv6 to IPv4; dockerd runs a
        proxy process there)."""
        got: list[tuple[PortMapping, socket.socket]] = []
        try:
            for b in bindings:
                if ":" in b.host_ip:
                    if container_ip6:
                        got.append(self._bind(b, container_ip6, endpoint))
                    continue
                mapping, sock = self._bind(b, container_ip, endpoint)
                got.append((mapping, sock))
                if container_ip6 and not b.host_ip:
                    got.append(_companion(mapping, container_ip6, endpoint))
        except BaseException:
            for _, sock in got:
                sock.close()
            raise
        self._held.setdefault(cid, []).extend(got)
        return tuple(m for m, _ in got)

    def readopt(self, cid: str, mappings: Sequence[PortMapping]) -> None:
        """After a restart: hold again what a running container had (best effort)."""
        got = []
        for m in mappings:
            with contextlib.suppress(OSError):
                got.append((m, _bind_exact(m.proto, m.host_ip, m.host_port)))
        self._held[cid] = got

    def release(self, cid: str) -> None:
        for _, sock in self._held.pop(cid, []):
            sock.close()

    def close(self) -> None:
        for cid in list(self._held):
            self.release(cid)

    def _held_by_us(self, proto: str, port: int, v6: bool) -> bool:
        return any(
            m.proto == proto and m.host_port == port and (":" in m.host_ip) == v6
            for v in self._held.values()
            for m, _ in v
        )

    def _bind(
        self, b: PortBinding, container_ip: str, endpoint: str
    ) -> tuple[PortMapping, socket.socket]:
        host_ip = b.host_ip or "0.0.0.0"
        if b.host_port and "-" not in b.host_port:
            candidates = [int(b.host_port)]
        elif b.host_port:
            low, _, high = b.host_port.partition("-")
            candidates = list(range(int(low), int(high) + 1))
        else:
            candidates = [0]  # the kernel picks from the ephemeral range
        last: OSError | None = None
        for port in candidates:
            if port and self._held_by_us(b.proto, port, ":" in host_ip):
                last = OSError(errno.EADDRINUSE, "allocated")
                continue
            try:
                sock = _bind_exact(b.proto, host_ip, port)
            except OSError as exc:
                last = exc
                continue
            actual = sock.getsockname()[1]
            mapping = PortMapping(
                container_port=b.container_port,
                proto=b.proto,
                host_ip=host_ip,
                host_port=actual,
                container_ip=container_ip,
            )
            return mapping, sock
        shown = b.host_port or "0"
        if last is not None and last.strerror == "allocated":
            reason = f"Bind for {host_ip}:{shown} failed: port is already allocated"
        else:
            why = last.strerror.lower() if last is not None and last.strerror else "failed"
            reason = (
                f"failed to bind host port for {host_ip}:{shown}:{container_ip}:"
                f"{b.container_port}/{b.proto}: {why}"
            )
        raise SystemFailure(
            f"driver failed programming external connectivity on endpoint {endpoint}: {reason}"
        )


def _companion(
    mapping: PortMapping, container_ip6: str, endpoint: str
) -> tuple[PortMapping, socket.socket]:
    """The IPv6 twin of a port published on every IPv4 address: same port, on "::"."""
    try:
        sock = _bind_exact(mapping.proto, "::", mapping.host_port)
    except OSError as exc:
        why = exc.strerror.lower() if exc.strerror else "failed"
        raise SystemFailure(
            f"driver failed programming external connectivity on endpoint {endpoint}: "
            f"failed to bind host port for [::]:{mapping.host_port}:{container_ip6}:"
            f"{mapping.container_port}/{mapping.proto}: {why}"
        ) from None
    return replace(mapping, host_ip="::", container_ip=container_ip6), sock


def _bind_exact(proto: str, host_ip: str, port: int) -> socket.socket:
    kind = _SOCK_TYPE[proto]
    number = socket.IPPROTO_SCTP if proto == "sctp" else 0
    v6 = ":" in host_ip
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, kind, number)
    try:
        if v6:
            # "::" holds the port for IPv6 only: IPv4 has its own reservation.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host_ip, port))
    except BaseException:
        sock.close()
        raise
    return sock
