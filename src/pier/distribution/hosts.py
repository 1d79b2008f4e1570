"""Where a registry is and how to talk to it: endpoints, HTTP or HTTPS, TLS material.

dockerd's rules: `docker.io` is served by `registry-1.docker.io` (after any
`registry-mirrors`); a registry is *insecure* when it is named in `insecure-registries`
(host[:port] or a CIDR) or resolves to a loopback address (127.0.0.0/8, ::1): then
HTTPS is tried without verification and plain HTTP after it. Otherwise only HTTPS, with
the system's CAs plus the `*.crt` files of `<certs.d>/<host[:port]>/` and a client
certificate `client.cert`/`client.key` from there (Docker's layout; Pier reads its own
`/etc/pier/certs.d` before `/etc/docker/certs.d`).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pier.errors import InvalidParameter
from pier.oci.reference import DEFAULT_DOMAIN

DOCKER_HUB_HOST = "registry-1.docker.io"
DEFAULT_CERTS_DIRS = (Path("/etc/pier/certs.d"), Path("/etc/docker/certs.d"))
_LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One base URL a repository of `domain` may be reached at."""

    base: str  # https://registry-1.docker.io
    host: str  # host[:port] as in the URL (for certs.d and auth)
    insecure: bool  # plain HTTP allowed, TLS unverified
    mirror: bool


def split_host_port(hostport: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    host, sep, port = hostport.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return hostport, None


class RegistryHosts:
    """The daemon's registry settings, turned into endpoints and TLS contexts."""

    def __init__(
        self,
        *,
        insecure_registries: Sequence[str] = (),
        mirrors: Sequence[str] = (),
        certs_dirs: Sequence[Path] = DEFAULT_CERTS_DIRS,
    ) -> None:
        self._insecure_hosts: set[str] = set()
        self._insecure_nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in insecure_registries:
            entry = entry.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
            try:
                self._insecure_nets.append(ipaddress.ip_network(entry, strict=False))
                if "/" in entry:
                    continue
            except ValueError:
                pass
            self._insecure_hosts.add(entry)
        self._mirrors = tuple(_mirror_url(m) for m in mirrors)
        self._certs_dirs = tuple(certs_dirs)
        self._contexts: dict[
            tuple[str, bool], tuple[tuple[tuple[str, int, int], ...], ssl.SSLContext]
        ] = {}

    def endpoints(self, domain: str) -> list[Endpoint]:
        """The endpoints to try for a repository of `domain`, in order."""
        if domain == DEFAULT_DOMAIN:
            out = [
                Endpoint(
                    base=m,
                    host=m.split("://", 1)[1],
                    insecure=self.insecure(m.split("://", 1)[1]),
                    mirror=True,
                )
                for m in self._mirrors
            ]
            out.append(
                Endpoint(
                    base=f"https://{DOCKER_HUB_HOST}",
                    host=DOCKER_HUB_HOST,
                    insecure=False,
                    mirror=False,
                )
            )
            return out
        insecure = self.insecure(domain)
        return [Endpoint(base=f"https://{domain}", host=domain, insecure=insecure, mirror=False)]

    def insecure(self, hostport: str) -> bool:
        if hostport in self._insecure_hosts:
            return True
        host, _ = split_host_port(hostport)
        if host in self._insecure_hosts or host == "localhost":
            return True
        for address in _addresses(host):
            if address.version == 4 and address in _LOOPBACK_V4:
                return True
            if address.is_loopback:
                return True
            if any(address in net for net in self._insecure_nets):
                return True
        return False

    def tls_context(self, hostport: str, *, verify: bool = True) -> ssl.SSLContext:
        """The TLS settings for `hostport`, read from certs.d as dockerd reads them on
        each new connection: a changed directory gives a new context (and so new
        connections); an unchanged one the cached context (building one reads the
        system's CA bundle)."""
        directories = [base / hostport for base in self._certs_dirs]
        files = _listing(directories)
        key = (hostport, verify)
        cached = self._contexts.get(key)
        if cached is not None and cached[0] == files:
            return cached[1]
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        for directory in directories:
            _load_certs_dir(ctx, directory)
        self._contexts[key] = (files, ctx)
        return ctx


def _listing(directories: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat()
            except OSError:
                continue
            out.append((entry.path, st.st_mtime_ns, st.st_size))
    return tuple(sorted(out))


def _load_certs_dir(ctx: ssl.SSLContext, directory: Path) -> None:
    """moby's ReadCertsDirectory: `*.crt` are CAs (added to the system's), each
    `X.cert` needs its `X.key` and each `X.key` its `X.cert`."""
    if not directory.is_dir():
        return
    for crt in sorted(directory.glob("*.crt")):
        try:
            ctx.load_verify_locations(cafile=str(crt))
        except (ssl.SSLError, OSError) as exc:
            raise InvalidParameter(f"invalid CA certificate {crt}: {exc}") from exc
    for cert in sorted(directory.glob("*.cert")):
        keyfile = cert.with_suffix(".key")
        if not keyfile.exists():
            raise InvalidParameter(
                f"missing key {keyfile.name} for client certificate {cert.name}. CA "
                "certificates must use the extension .crt"
            )
        try:
            ctx.load_cert_chain(str(cert), str(keyfile))
        except (ssl.SSLError, OSError) as exc:
            raise InvalidParameter(f"invalid client certificate {cert}: {exc}") from exc
    for keyfile in sorted(directory.glob("*.key")):
        cert = keyfile.with_suffix(".cert")
        if not cert.exists():
            raise InvalidParameter(f"missing client certificate {cert.name} for key {keyfile.name}")


def _mirror_url(mirror: str) -> str:
    mirror = mirror.strip().rstrip("/")
    if not mirror.startswith(("http://", "https://")):
        raise InvalidParameter(f"invalid mirror: unsupported scheme in {mirror!r}")
    if mirror.count("/") > 2:
        raise InvalidParameter(
            f"invalid mirror: path, query, or fragment at end of the URI {mirror!r}"
        )
    return mirror


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    out = []
    for info in infos:
        try:
            out.append(ipaddress.ip_address(info[4][0]))
        except ValueError:
            continue
    return out
