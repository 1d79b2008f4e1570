"""Who may talk to pierd (issue 16, point 7): the UNIX socket is 0660 with the group
of `-G` (default `pier` when it exists), tcp:// only with mutual TLS (the docker CLI
with --tlsverify and DOCKER_CERT_PATH, the docker SDK), plain TCP refused with the
reason, and fd:// sockets handed over by a socket activator."""

from __future__ import annotations

import contextlib
import grp
import os
import socket
import ssl
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from pier_testing.api import create
from pier_testing.binaries import DOCKER
from pier_testing.custom import CustomDaemon, running
from pier_testing.daemon import PIERD, PierDaemon
from pier_testing.leaks import Scope
from pier_testing.ports import free_port
from pier_testing.procs import conmon_of
from pier_testing.tls import Authority, Pair, docker_cert_path, issue, make_ca

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534"]
SOCKET_GID = 4242  # a group no user of the host is in


def _pierd_fails(scope: Scope, hosts: list[str], *flags: str) -> str:
    """Run pierd with hosts or flags it must refuse; return what it said. It is the test
    daemon (its own bridge and nft table): one that wrongly starts is killed at the
    timeout and leaves nothing of the host's defaults behind."""
    daemon = CustomDaemon(scope, flags=list(flags), hosts=hosts)
    try:
        out = subprocess.run(daemon.command(), capture_output=True, text=True, timeout=60)
    finally:
        daemon.destroy()
    assert out.returncode == 1, out
    return out.stderr


def _docker_as_nobody(daemon: PierDaemon, *groups: int) -> subprocess.CompletedProcess[str]:
    supplementary = ["--groups=" + ",".join(map(str, groups))] if groups else ["--clear-groups"]
    env = {
        "PATH": os.environ["PATH"],
        "DOCKER_HOST": daemon.host,
        "DOCKER_CONFIG": "/nonexistent",
        "HOME": "/nonexistent",
    }
    return subprocess.run(
        [*NOBODY, *supplementary, "--", str(DOCKER), "version", "--format", "{{.Server.Os}}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_default_socket_is_0660_and_root_or_pier(pier: PierDaemon) -> None:
    st = os.stat(pier.socket)
    assert stat.S_IMODE(st.st_mode) == 0o660
    try:
        expected = grp.getgrnam("pier").gr_gid
    except KeyError:
        expected = 0
    assert (st.st_uid, st.st_gid) == (0, expected)
    denied = _docker_as_nobody(pier)
    assert denied.returncode != 0
    assert "permission denied" in denied.stderr, denied.stderr


def test_group_flag_opens_the_socket_to_that_group(leak_scope: Scope) -> None:
    daemon = CustomDaemon(leak_scope, flags=["-G", str(SOCKET_GID)])
    with running(daemon, leak_scope):
        st = os.stat(daemon.socket)
        assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o660, SOCKET_GID)
        member = _docker_as_nobody(daemon, SOCKET_GID)
        assert (member.returncode, member.stdout) == (0, "linux\n"), member.stderr
        outsider = _docker_as_nobody(daemon, SOCKET_GID + 1)
        assert outsider.returncode != 0
        assert "permission denied" in outsider.stderr, outsider.stderr


def test_unknown_group_is_refused(leak_scope: Scope, tmp_path: Path) -> None:
    said = _pierd_fails(leak_scope, [f"unix://{tmp_path}/s.sock"], "-G", "no-such-group")
    assert "group no-such-group not found" in said
    assert not (tmp_path / "s.sock").exists()


@pytest.mark.parametrize("tls", [[], ["--tls"]], ids=["plain", "tls-without-verify"])
def test_tcp_without_mutual_tls_is_refused(
    leak_scope: Scope, tls: list[str], certs: tuple[Authority, Pair, Path]
) -> None:
    _, server, _ = certs
    port = free_port()
    flags = [*tls, "--tlscert", str(server.cert), "--tlskey", str(server.key)] if tls else []
    said = _pierd_fails(leak_scope, [f"tcp://127.0.0.1:{port}"], *flags)
    assert f"refusing to listen on tcp://127.0.0.1:{port} without mutual TLS" in said
    assert "would be root on this host" in said
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing was left listening


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Authority, Pair, Path]:
    """The daemon's CA and server pair, and a client's DOCKER_CERT_PATH."""
    base = tmp_path_factory.mktemp("tls")
    ca = make_ca(base / "ca")
    server = issue(ca, base / "server", "server", server=True)
    client = issue(ca, base / "client", "client", server=False)
    return ca, server, docker_cert_path(ca, client, base / "docker")


@pytest.fixture(scope="module")
def tls_daemon(
    leak_scope: Scope, busybox_tar: Path, certs: tuple[Authority, Pair, Path]
) -> Iterator[tuple[CustomDaemon, str]]:
    ca, server, _ = certs
    port = free_port()
    tcp = f"tcp://127.0.0.1:{port}"
    daemon = CustomDaemon(
        leak_scope,
        flags=[
            *("--tlsverify", "--tlscacert", str(ca.cert)),
            *("--tlscert", str(server.cert), "--tlskey", str(server.key)),
        ],
    )
    daemon.hosts = [daemon.host, tcp]
    with running(daemon, leak_scope, busybox_tar):
        yield daemon, tcp


def _docker_tls(
    daemon: PierDaemon, tcp: str, cert_path: Path, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = daemon.env()
    env.update(DOCKER_HOST=tcp, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(cert_path))
    return subprocess.run(
        [str(DOCKER), *args], capture_output=True, env=env, input=stdin, timeout=120
    )


def test_docker_cli_over_mutual_tls(
    tls_daemon: tuple[CustomDaemon, str], certs: tuple[Authority, Pair, Path], tmp_path: Path
) -> None:
    daemon, tcp = tls_daemon
    _, _, cert_path = certs
    out = _docker_tls(daemon, tcp, cert_path, "version", "--format", "{{.Server.APIVersion}}")
    assert (out.returncode, out.stdout) == (0, b"1.47\n"), out.stderr
    # A hijacked attach, with stdin, through TLS.
    out = _docker_tls(
        daemon, tcp, cert_path, "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done",
        stdin=b"through tls\n",
    )  # fmt: skip
    assert (out.returncode, out.stdout) == (0, b"through tls\ndone\n"), out.stderr
    # An archive out of a container: relayed, since the socket cannot be handed to tar.
    out = _docker_tls(daemon, tcp, cert_path, "create", "busybox", "true")
    cid = out.stdout.decode().strip()
    dest = tmp_path / "out.tar"
    out = _docker_tls(daemon, tcp, cert_path, "cp", f"{cid}:/bin/busybox", "-")
    assert out.returncode == 0, out.stderr
    dest.write_bytes(out.stdout)
    with tarfile.open(dest) as tar:
        member = tar.getmember("busybox")
    assert member.size > 500_000
    _docker_tls(daemon, tcp, cert_path, "rm", cid)


def test_docker_sdk_over_mutual_tls(
    tls_daemon: tuple[CustomDaemon, str],
    certs: tuple[Authority, Pair, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # requests lets these replace the CA the SDK names (psf/requests#3829).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    _, tcp = tls_daemon
    _, _, cert_path = certs
    tls = docker.tls.TLSConfig(
        client_cert=(str(cert_path / "cert.pem"), str(cert_path / "key.pem")),
        ca_cert=str(cert_path / "ca.pem"),
        verify=True,
    )
    client = docker.DockerClient(base_url=tcp.replace("tcp://", "https://"), tls=tls)
    try:
        assert client.ping()
        assert client.containers.run("busybox", ["echo", "sdk"], remove=True) == b"sdk\n"
    finally:
        client.close()


def _handshake(port: int, cafile: Path, pair: Pair | None) -> None:
    ctx = ssl.create_default_context(cafile=str(cafile))
    if pair is not None:
        ctx.load_cert_chain(str(pair.cert), str(pair.key))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
    ):
        conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = conn.recv(1024)  # TLS 1.3: the server's refusal arrives on first read
        if not answer:
            raise ConnectionResetError("closed without an answer")


def test_clients_without_a_good_certificate_are_refused(
    tls_daemon: tuple[CustomDaemon, str], certs: tuple[Authority, Pair, Path], tmp_path: Path
) -> None:
    _, tcp = tls_daemon
    ca, _, _ = certs
    port = int(tcp.rsplit(":", 1)[1])
    _handshake(port, ca.cert, issue(ca, tmp_path, "good", server=False))  # the control
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(port, ca.cert, None)
    stranger = make_ca(tmp_path / "other")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(port, ca.cert, issue(stranger, tmp_path, "stranger", server=False))
    # And the CLI without its certificates is turned away too.
    daemon = tls_daemon[0]
    env = daemon.env()
    env.update(DOCKER_HOST=tcp, DOCKER_TLS_VERIFY="", DOCKER_CERT_PATH="")
    out = subprocess.run([str(DOCKER), "version"], capture_output=True, env=env, timeout=60)
    assert out.returncode != 0
    assert b"Server:" not in out.stdout


def _fd_links(pid: int) -> set[str]:
    links = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            links.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return links


def test_socket_activation(leak_scope: Scope, busybox_tar: Path) -> None:
    daemon = CustomDaemon(leak_scope, flags=[], hosts=["fd://"])
    activated = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    activated.bind(str(daemon.socket))
    daemon.activated = activated
    ours = os.readlink(f"/proc/self/fd/{activated.fileno()}")
    try:
        with running(daemon, leak_scope, busybox_tar):
            activated.close()  # answered through pierd's copy alone from here on
            assert daemon.proc is not None
            assert os.readlink(f"/proc/{daemon.proc.pid}/fd/3") == ours
            assert "API listening on fd://3" in daemon.log_text()
            cid = create(daemon.client, ["sleep", "60"])
            daemon.client.post(f"/containers/{cid}/start")
            assert ours not in _fd_links(conmon_of(cid))  # not inherited by monitors
            daemon.client.delete(f"/containers/{cid}", force=1)
    finally:
        activated.close()


def test_activated_tcp_socket_needs_mutual_tls(tmp_path: Path) -> None:
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    fd = tcp.fileno()
    argv = [*PIERD, "--data-root", str(tmp_path / "d"), "--exec-root", str(tmp_path / "r")]
    out = subprocess.run(
        [
            "bash",
            "-c",
            f'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@" 3<&{fd}',
            "bash",
            *argv,
            "-H",
            "fd://",
        ],
        pass_fds=(fd,),
        capture_output=True,
        text=True,
        timeout=60,
    )
    tcp.close()
    assert out.returncode == 1, out
    assert "refusing to listen on fd:// (descriptor 3) without mutual TLS" in out.stderr


def test_activation_without_sockets_says_so(leak_scope: Scope) -> None:
    said = _pierd_fails(leak_scope, ["fd://"])
    assert "no sockets found via socket activation" in said
