"""Docker's lifecycle semantics where Pier used to differ, through the docker SDK:
kill waits for the exit, the restarting state of a restart policy, restart policies at
daemon start, refused options."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from pier_testing.api import wait_for
from pier_testing.daemon import PierDaemon


@pytest.fixture
def client(pier: PierDaemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=pier.host, timeout=60)
    try:
        yield c
    finally:
        c.close()


def test_kill_returns_once_the_container_has_exited(client: docker.DockerClient) -> None:
    for _ in range(5):  # a race would show on one of a few tries
        c = client.containers.run("busybox", ["sleep", "60"], detach=True)
        c.kill()
        c.reload()
        state = c.attrs["State"]
        assert (state["Running"], state["Status"], state["ExitCode"]) == (False, "exited", 137)
        c.remove()  # no force needed: the container has stopped


def test_kill_with_a_signal_does_not_wait(client: docker.DockerClient) -> None:
    c = client.containers.run(
        "busybox",
        ["sh", "-c", "trap 'echo hup' HUP; echo ready; while true; do sleep 0.1; done"],
        detach=True,
    )
    wait_for(lambda: b"ready\n" in c.logs())
    c.kill(signal="SIGHUP")
    wait_for(lambda: b"hup\n" in c.logs())
    c.reload()
    assert c.status == "running"
    c.remove(force=True)


def _restarting_with_a_long_backoff(
    client: docker.DockerClient,
) -> docker.models.containers.Container:
    """A container that exits 3 at once under `always`: after five restarts the
    back-off before the next one is 1.6 s (100 ms doubling)."""
    c = client.containers.run(
        "busybox", ["sh", "-c", "exit 3"], detach=True, restart_policy={"Name": "always"}
    )

    def restarting() -> bool:
        c.reload()
        return c.attrs["State"]["Restarting"] and c.attrs["RestartCount"] >= 5

    wait_for(restarting, timeout=30)
    return c


def test_restarting_state_as_docker_reports_it(client: docker.DockerClient) -> None:
    c = _restarting_with_a_long_backoff(client)
    state = c.attrs["State"]
    assert (state["Status"], state["Running"], state["Restarting"]) == (
        "restarting",
        True,
        True,
    )
    assert (state["Pid"], state["ExitCode"]) == (0, 3)
    listed = client.api.containers(all=True, filters={"id": c.id})[0]
    assert listed["State"] == "restarting"
    assert listed["Status"].startswith("Restarting (3) ")
    assert listed["Status"].endswith(" ago")
    with pytest.raises(docker.errors.APIError) as err:
        c.remove()
    assert err.value.status_code == 409
    assert "container is restarting: stop the container before removing or force remove" in (
        str(err.value.explanation)
    )
    c.stop(timeout=1)
    c.reload()
    assert (c.attrs["State"]["Status"], c.attrs["State"]["Running"]) == ("exited", False)
    c.remove()


def _wait_request(pier: PierDaemon, cid: str) -> socket.socket:
    """POST /containers/{cid}/wait on a raw socket; returns once the headers (sent at
    once by the daemon, the waiter registered) have arrived."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(pier.host.removeprefix("unix://"))
    sock.sendall(f"POST /v1.47/containers/{cid}/wait HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 200")
    rest = head.partition(b"\r\n\r\n")[2]
    assert rest == b"", rest
    return sock


def test_wait_does_not_return_while_restarting(
    pier: PierDaemon, client: docker.DockerClient
) -> None:
    c = _restarting_with_a_long_backoff(client)
    count = c.attrs["RestartCount"]
    sock = _wait_request(pier, c.id)
    try:
        c.reload()
        still = c.attrs["State"]["Restarting"] and c.attrs["RestartCount"] == count
        sock.setblocking(False)
        try:
            early = sock.recv(4096)
        except BlockingIOError:
            early = None
        if still:  # nothing exited since the wait was registered: it must be pending
            assert early is None, early
        sock.setblocking(True)
        c.stop(timeout=1)
        body = b""
        while b"StatusCode" not in body:
            chunk = sock.recv(4096)
            assert chunk
            body += chunk
        payload = json.loads(body.split(b"\r\n")[1])
        assert payload["StatusCode"] == 3
    finally:
        sock.close()
    c.remove()


def test_rm_force_of_a_restarting_container(client: docker.DockerClient) -> None:
    c = _restarting_with_a_long_backoff(client)
    c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(c.id)


def test_restart_policies_at_daemon_start(pier: PierDaemon, client: docker.DockerClient) -> None:
    always = client.containers.run(
        "busybox", ["sleep", "600"], detach=True, name="always", restart_policy={"Name": "always"}
    )
    unless = client.containers.run(
        "busybox",
        ["sleep", "600"],
        detach=True,
        name="unless",
        restart_policy={"Name": "unless-stopped"},
    )
    stopped_unless = client.containers.run(
        "busybox",
        ["sleep", "600"],
        detach=True,
        name="stopped-unless",
        restart_policy={"Name": "unless-stopped"},
    )
    stopped_always = client.containers.run(
        "busybox",
        ["sleep", "600"],
        detach=True,
        name="stopped-always",
        restart_policy={"Name": "always"},
    )
    plain = client.containers.run("busybox", ["sleep", "600"], detach=True, name="plain")
    stopped_unless.stop(timeout=0)
    stopped_always.stop(timeout=0)
    always.reload()
    pid = always.attrs["State"]["Pid"]

    pier.kill9()
    # The process of "always" dies while no pierd runs.
    os.kill(pid, 9)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"))
    pier.start()

    def running(name: str) -> bool:
        return bool(client.containers.get(name).attrs["State"]["Running"])

    wait_for(lambda: running("always"))
    assert client.containers.get("always").attrs["State"]["Pid"] != pid
    assert running("unless")  # never stopped: re-adopted
    # always: started again even after a stop from the API (Docker's documented rule);
    # unless-stopped: not after such a stop; no policy: left alone.
    wait_for(lambda: running("stopped-always"))
    assert not running("stopped-unless")
    assert running("plain")
    for c in (always, unless, stopped_unless, stopped_always, plain):
        c.remove(force=True)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"storage_opt": {"size": "1G"}}, "--storage-opt"),
    ],
    ids=["storage-opt"],
)
def test_unimplemented_options_are_refused(
    client: docker.DockerClient, kwargs: dict[str, object], option: str
) -> None:
    with pytest.raises(docker.errors.APIError) as err:
        client.containers.create("busybox", ["true"], **kwargs)
    assert err.value.status_code == 501
    assert option in str(err.value.explanation)
    assert "not implemented in Pier yet" in str(err.value.explanation)
    assert client.containers.list(all=True) == []


@pytest.mark.parametrize(
    ("bind", "message"),
    [
        ("/src:rel", "invalid volume specification: '/src:rel'"),
        ("/src:/dst:bogus", "invalid mode: bogus"),
        ("./rel:/dst", 'create ./rel: "./rel" includes invalid characters'),
        ("/src:/", "destination can't be '/'"),
        ("/src:rw", "invalid volume specification: '/src:rw'"),
        ("data", "invalid volume specification: 'data': invalid mount config for type \"volume\""),
    ],
    ids=["relative-target", "bad-mode", "relative-source", "root-target", "mode-only", "anonymous"],
)
def test_malformed_binds_are_a_400_at_create(
    client: docker.DockerClient, bind: str, message: str
) -> None:
    with pytest.raises(docker.errors.APIError) as err:
        client.api.create_container(
            "busybox", ["true"], host_config=client.api.create_host_config(binds=[bind])
        )
    assert err.value.status_code == (501 if "not implemented" in message else 400)
    assert message in str(err.value.explanation)
    assert client.containers.list(all=True) == []


def test_duplicate_mount_point(client: docker.DockerClient) -> None:
    hc = client.api.create_host_config(binds=["/tmp:/x", "/var:/x"])
    with pytest.raises(docker.errors.APIError) as err:
        client.api.create_container("busybox", ["true"], host_config=hc)
    assert err.value.status_code == 400
    assert "Duplicate mount point: /x" in str(err.value.explanation)
