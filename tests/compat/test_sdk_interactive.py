"""The docker SDK's interactive calls against pierd: exec_run (demux, stream, tty,
stdin through the exec socket), attach_socket, and run(stdin_open, tty, detach)."""

from __future__ import annotations

import gc
import socket
from collections.abc import Iterator

import docker
import pytest
from docker.models.containers import Container

from pier_testing.api import wait_for
from pier_testing.daemon import PierDaemon

# docker-py hands its hijacked sockets to the garbage collector without closing them
# (the same against dockerd); that is the library's, not a leak of the daemon's.
pytestmark = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture
def client(pier: PierDaemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=pier.host, timeout=60)
    try:
        yield c
    finally:
        c.close()
        gc.collect()  # while this module's warning filter applies


@pytest.fixture
def sleeper(client: docker.DockerClient) -> Container:
    return client.containers.run("busybox", ["sleep", "600"], detach=True)


def _recv_until(sock: socket.socket, needle: bytes, limit: float = 10.0) -> bytes:
    sock.settimeout(limit)
    seen = b""
    while needle not in seen:
        chunk = sock.recv(4096)
        if not chunk:
            break
        seen += chunk
    return seen


def test_exec_run_exit_code_and_output(sleeper: Container) -> None:
    result = sleeper.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert result.exit_code == 3
    assert result.output == b"out\nerr\n"


def test_exec_run_demux(sleeper: Container) -> None:
    result = sleeper.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
    assert result.exit_code == 0
    assert result.output == (b"out\n", b"err\n")


def test_exec_run_stream(sleeper: Container) -> None:
    result = sleeper.exec_run(["sh", "-c", "for i in 1 2 3; do echo $i; done"], stream=True)
    assert result.exit_code is None  # docker-py cannot know it while streaming
    assert b"".join(result.output) == b"1\n2\n3\n"


def test_exec_run_stream_demux(sleeper: Container) -> None:
    result = sleeper.exec_run(["sh", "-c", "echo o; echo e >&2"], stream=True, demux=True)
    outs, errs = b"", b""
    for out, err in result.output:
        outs += out or b""
        errs += err or b""
    assert (outs, errs) == (b"o\n", b"e\n")


def test_exec_run_tty(sleeper: Container) -> None:
    result = sleeper.exec_run(["sh", "-c", "tty; echo err >&2"], tty=True)
    assert result.exit_code == 0
    lines = result.output.decode().replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/") and lines[1] == "err"


def test_exec_run_user_workdir_environment(sleeper: Container) -> None:
    result = sleeper.exec_run(
        ["sh", "-c", "id -u; pwd; echo $X"], user="nobody", workdir="/tmp", environment={"X": "y"}
    )
    assert result.output == b"65534\n/tmp\ny\n"


def test_exec_run_detach(sleeper: Container) -> None:
    # docker-py returns the (empty) body of a detached start as text.
    assert sleeper.exec_run(["sh", "-c", "echo x > /tmp/f"], detach=True).output == ""
    wait_for(lambda: sleeper.exec_run(["cat", "/tmp/f"]).exit_code == 0)
    assert sleeper.exec_run(["cat", "/tmp/f"]).output == b"x\n"


def test_exec_socket_stdin(client: docker.DockerClient, sleeper: Container) -> None:
    api = client.api
    exec_id = api.exec_create(sleeper.id, ["sh", "-c", "read l; echo got $l"], stdin=True)["Id"]
    sock = api.exec_start(exec_id, socket=True)._sock
    try:
        sock.sendall(b"line\n")
        data = _recv_until(sock, b"<EOF>")  # the stream ends once the exit is recorded
    finally:
        sock.close()
    assert data[8:] == b"got line\n"  # one stdout frame
    assert api.exec_inspect(exec_id)["ExitCode"] == 0


def test_run_stdin_open_tty_detach_and_attach_socket(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sh"], stdin_open=True, tty=True, detach=True)
    try:
        info = client.api.inspect_container(c.id)["Config"]
        assert (info["OpenStdin"], info["Tty"]) == (True, True)
        sock = c.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        raw = sock._sock
        try:
            raw.sendall(b"echo $((6*7))\n")
            assert b"42" in _recv_until(raw, b"42")
        finally:
            raw.close()
        c.reload()
        assert c.status == "running"
    finally:
        c.remove(force=True)


def test_attach_socket_without_tty_is_multiplexed(client: docker.DockerClient) -> None:
    c = client.containers.run(
        "busybox", ["sh", "-c", "read l; echo out $l; echo err >&2"], stdin_open=True, detach=True
    )
    sock = c.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})._sock
    try:
        sock.sendall(b"x\n")
        data = _recv_until(sock, b"err\n")
    finally:
        sock.close()
    assert data == b"\x01\x00\x00\x00\x00\x00\x00\x06out x\n\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    assert c.wait()["StatusCode"] == 0
