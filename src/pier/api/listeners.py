"""The API's listening sockets, from `-H` hosts, before anything is served on them.

Three kinds, as dockerd's daemon/listeners:
- `unix:///path`: mode 0660, group from `-G/--group` (default `pier` when that group
  exists, else root's). The socket is bound under a umask of 0177, so it is never
  reachable by others, even for the instant between bind and chown/chmod.
- `tcp://host:port`: only with mutual TLS (`--tlsverify`, a CA to check clients
  against, the server's certificate and key). dockerd still starts with a warning on
  plain TCP; Pier refuses, because anyone reaching the port would be root on the host.
- `fd://` or `fd://N`: sockets handed over by a service manager (systemd's
  LISTEN_FDS/LISTEN_PID protocol); TCP-family ones need mutual TLS as well.

Sockets are bound here and only listened on when the server starts, so a client
connecting meanwhile is refused at once instead of waiting for a restore.
"""

from __future__ import annotations

import contextlib
import grp
import ipaddress
import os
import socket
import ssl
import stat
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from pier.errors import InvalidParameter

DEFAULT_GROUP = "pier"
# dockerd's defaults: 2376 for TLS ("tcp://127.0.0.1" alone), fds from 3 on.
DEFAULT_TLS_PORT = 2376
_FIRST_FD = 3
_INSECURE_TCP = (
    "refusing to listen on {host} without mutual TLS: anyone who can reach the port "
    "would be root on this host; give --tlsverify with --tlscacert, --tlscert and "
    "--tlskey (clients then need a certificate signed by that CA)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsOptions:
    """dockerd's `--tls`, `--tlsverify`, `--tlscacert`, `--tlscert`, `--tlskey`."""

    verify: bool = False
    enabled: bool = False  # `--tls` (implied by verify): serve TLS without client auth
    cacert: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @property
    def on(self) -> bool:
        return self.enabled or self.verify


@dataclass(frozen=True, slots=True, kw_only=True)
class Listener:
    """A bound socket to serve on; `path` is the UNIX socket's file to remove at close."""

    name: str
    sock: socket.socket
    ssl_context: ssl.SSLContext | None = None
    path: Path | None = None


def server_tls_context(tls: TlsOptions) -> ssl.SSLContext:
    """Go's crypto/tls settings as go-connections' tlsconfig.Server: TLS 1.2 at least,
    client certificates required and checked against the CA when verifying."""
    if tls.cert is None or tls.key is None:
        raise InvalidParameter("--tlscert and --tlskey are needed to serve TLS")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(tls.cert), str(tls.key))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidParameter(
            f"could not load X509 key pair ({tls.cert}, {tls.key}): {exc}"
        ) from exc
    if tls.verify:
        if tls.cacert is None:
            raise InvalidParameter(
                "--tlsverify needs --tlscacert: the CA clients are checked against"
            )
        try:
            ctx.load_verify_locations(cafile=str(tls.cacert))
        except (OSError, ssl.SSLError) as exc:
            raise InvalidParameter(f"could not read CA certificate {tls.cacert}: {exc}") from exc
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def socket_gid(group: str | None) -> int | None:
    """The group the UNIX socket gets: a name or a number. The default group missing
    leaves the socket root's (None); a group asked for by name must exist."""
    name = DEFAULT_GROUP if group is None else group
    if name == "":
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        pass
    if name.isdigit():
        return int(name)
    if group is None:
        return None
    raise InvalidParameter(f"group {name} not found")


def open_listeners(
    hosts: Iterable[str],
    *,
    group: str | None = None,
    tls: TlsOptions | None = None,
    environ: MutableMapping[str, str] | None = None,
) -> list[Listener]:
    """Bind a socket for each host (nothing listens yet); on any failure the ones
    already made are closed and the error says which host and why."""
    tls = tls or TlsOptions()
    context = server_tls_context(tls) if tls.on else None
    mutual = context is not None and tls.verify
    made: list[Listener] = []
    try:
        for host in hosts:
            scheme, sep, rest = host.partition("://")
            if not sep:
                raise InvalidParameter(f"bad format {host}, expected PROTO://ADDR")
            if scheme == "unix":
                made.append(_unix(host, Path(rest or "/run/pier/pier.sock"), group))
            elif scheme == "tcp":
                if not mutual or context is None:
                    raise InvalidParameter(_INSECURE_TCP.format(host=host))
                made.append(_tcp(host, rest, context))
            elif scheme == "fd":
                env = os.environ if environ is None else environ
                made.extend(_activated(host, rest, env, context if mutual else None))
            else:
                raise InvalidParameter(f"invalid protocol format: {scheme!r} in {host}")
    except BaseException:
        close_listeners(made)
        raise
    return made


def close_listeners(listeners: Iterable[Listener]) -> None:
    for listener in listeners:
        listener.sock.close()
        if listener.path is not None:
            listener.path.unlink(missing_ok=True)


def _unix(host: str, path: Path, group: str | None) -> Listener:
    gid = socket_gid(group)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_socket():
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # umask is the process's: pierd binds its sockets before it starts any thread.
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise InvalidParameter(f"can't create unix socket {path}: {exc.strerror}") from exc
    finally:
        os.umask(old)
    try:
        if gid is not None:
            os.chown(path, 0, gid)
        os.chmod(path, 0o660)
    except OSError as exc:
        sock.close()
        path.unlink(missing_ok=True)
        raise InvalidParameter(f"can't set up unix socket {path}: {exc.strerror}") from exc
    return Listener(name=host, sock=sock, path=path)


def _tcp(host: str, addr: str, context: ssl.SSLContext) -> Listener:
    address, port = _split_host_port(host, addr)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise InvalidParameter(f"failed to listen on {host}: {exc.strerror}") from exc
    return Listener(name=host, sock=sock, ssl_context=context)


def _split_host_port(host: str, addr: str) -> tuple[str, int]:
    addr = addr.rstrip("/")
    if addr.startswith("["):
        address, _, tail = addr[1:].partition("]")
        port_text = tail.removeprefix(":")
    elif addr.count(":") == 1 or ":" not in addr:
        address, _, port_text = addr.partition(":")
    else:
        raise InvalidParameter(f"invalid bind address format: {host}")
    address = address or "0.0.0.0"  # dockerd's "tcp://:2376" is every address
    if address == "localhost":
        address = "127.0.0.1"
    try:
        ipaddress.ip_address(address)
        port = int(port_text) if port_text else DEFAULT_TLS_PORT
    except ValueError:
        raise InvalidParameter(f"invalid bind address format: {host}") from None
    if not 0 < port < 65536:
        raise InvalidParameter(f"invalid bind address format: {host}")
    return address, port


def _activated(
    host: str, addr: str, environ: MutableMapping[str, str], context: ssl.SSLContext | None
) -> list[Listener]:
    fds = _listen_fds(environ)
    if not fds:
        raise InvalidParameter(
            "no sockets found via socket activation: make sure the service was started "
            "by systemd or another socket activator (LISTEN_FDS, LISTEN_PID)"
        )
    if addr not in ("", "*"):
        try:
            wanted = int(addr)
        except ValueError:
            raise InvalidParameter(
                f"failed to parse systemd fd address: should be a number: {addr}"
            ) from None
        if wanted not in fds:
            raise InvalidParameter("too few socket activated files passed in by systemd")
        for fd in fds:
            if fd != wanted:
                os.close(fd)
        fds = [wanted]
    out: list[Listener] = []
    made: list[socket.socket] = []
    try:
        for fd in fds:
            os.set_inheritable(fd, False)  # never into conmon or a container
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                raise InvalidParameter(f"{host}: descriptor {fd} is not a socket")
            sock = socket.socket(fileno=fd)
            made.append(sock)
            tcp = sock.family in (socket.AF_INET, socket.AF_INET6)
            if tcp and context is None:
                raise InvalidParameter(_INSECURE_TCP.format(host=f"{host} (descriptor {fd})"))
            out.append(Listener(name=f"fd://{fd}", sock=sock, ssl_context=context if tcp else None))
    except BaseException:
        # The handed-over descriptors are pierd's alone (their variables are gone):
        # none stays open on a refusal, as open_listeners promises. The socket objects
        # give theirs up first, so that none closes a number since reused.
        for sock in made:
            sock.detach()
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise
    return out


def _listen_fds(environ: MutableMapping[str, str]) -> list[int]:
    """systemd's sd_listen_fds: the descriptors from 3 on, when they are meant for this
    process; the variables are removed so that no child takes them for its own."""
    pid = environ.pop("LISTEN_PID", "")
    count = environ.pop("LISTEN_FDS", "")
    environ.pop("LISTEN_FDNAMES", None)
    if not pid.isdigit() or int(pid) != os.getpid() or not count.isdigit():
        return []
    return list(range(_FIRST_FD, _FIRST_FD + int(count)))
