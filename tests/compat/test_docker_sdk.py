"""The docker Python SDK (docker-py 7.x) against pierd, unchanged."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from pier_testing.api import wait_for
from pier_testing.daemon import PierDaemon

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture
def client(pier: PierDaemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=pier.host, timeout=60)
    try:
        yield c
    finally:
        c.close()


def test_ping_and_version(client: docker.DockerClient) -> None:
    assert client.ping() is True
    version = client.version()
    assert version["ApiVersion"] == "1.47"
    assert version["Os"] == "linux"
    assert client.api.api_version == "1.47"


def test_run_attached_returns_the_output(client: docker.DockerClient) -> None:
    # docker-py reads the output only when HostConfig.LogConfig.Type is "json-file" or
    # "journald" (Docker's default is json-file); any other type makes run() return None.
    out = client.containers.run("busybox", ["sh", "-c", "echo $((6*7))"], remove=True)
    assert out == b"42\n"
    assert client.containers.list(all=True) == []


def test_run_attached_stderr(client: docker.DockerClient) -> None:
    out = client.containers.run(
        "busybox", ["sh", "-c", "echo out; echo err >&2"], stdout=False, stderr=True, remove=True
    )
    assert out == b"err\n"


def test_run_detached(client: docker.DockerClient) -> None:
    container = client.containers.run("busybox", ["sleep", "60"], detach=True, name="sdk-det")
    assert isinstance(container, Container)
    assert HEX64.match(container.id or "")
    container.reload()
    assert container.status == "running"
    assert container.name == "sdk-det"
    assert container.attrs["Config"]["Cmd"] == ["sleep", "60"]


def test_list_and_get(client: docker.DockerClient) -> None:
    running = client.containers.run(
        "busybox", ["sleep", "60"], detach=True, name="sdk-running", labels={"k": "v"}
    )
    exited = client.containers.run("busybox", ["true"], detach=True, name="sdk-exited")
    assert exited.wait() == {"StatusCode": 0, "Error": None}
    assert [c.name for c in client.containers.list()] == ["sdk-running"]
    assert sorted(c.name for c in client.containers.list(all=True)) == [
        "sdk-exited",
        "sdk-running",
    ]
    assert [c.name for c in client.containers.list(filters={"label": "k=v"})] == ["sdk-running"]
    assert [c.name for c in client.containers.list(all=True, filters={"status": "exited"})] == [
        "sdk-exited"
    ]
    got = client.containers.get("sdk-running")
    assert got.id == running.id
    assert got.labels == {"k": "v"}
    assert client.containers.get(running.id[:12]).name == "sdk-running"
    with pytest.raises(docker.errors.NotFound, match="No such container: nosuch"):
        client.containers.get("nosuch")


def test_logs_stop_remove(client: docker.DockerClient) -> None:
    container = client.containers.run(
        "busybox",
        ["sh", "-c", "echo hello; echo oops >&2; trap 'exit 0' TERM; while :; do sleep 0.1; done"],
        detach=True,
    )
    wait_for(lambda: container.logs() == b"hello\noops\n")
    assert container.logs() == b"hello\noops\n"
    assert container.logs(stderr=False) == b"hello\n"
    assert container.logs(stdout=False) == b"oops\n"
    assert container.logs(timestamps=True).split(b" ", 1)[1].startswith(b"hello")
    assert container.logs(tail=1) == b"oops\n"
    container.stop(timeout=5)
    container.reload()
    assert container.status == "exited"
    assert container.attrs["State"]["ExitCode"] == 0
    container.remove()
    with pytest.raises(docker.errors.NotFound):
        container.reload()
    assert client.containers.list(all=True) == []


def test_logs_stream(client: docker.DockerClient) -> None:
    container = client.containers.run(
        "busybox", ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done"], detach=True
    )
    chunks = b"".join(container.logs(stream=True, follow=True))
    assert chunks == b"1\n2\n3\n"


def test_wait_returns_the_exit_status(client: docker.DockerClient) -> None:
    container = client.containers.run("busybox", ["sh", "-c", "sleep 0.3; exit 3"], detach=True)
    assert container.wait(timeout=30) == {"StatusCode": 3, "Error": None}
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 3


def test_remove_running_needs_force(client: docker.DockerClient) -> None:
    container = client.containers.run("busybox", ["sleep", "60"], detach=True)
    with pytest.raises(docker.errors.APIError) as info:
        container.remove()
    assert info.value.status_code == 409
    container.remove(force=True)
    assert client.containers.list(all=True) == []


def test_create_start_kill_restart(client: docker.DockerClient) -> None:
    container = client.containers.create("busybox", ["sleep", "60"], name="sdk-created")
    assert container.status == "created"
    container.start()
    container.reload()
    assert container.status == "running"
    container.restart(timeout=1)
    container.reload()
    assert container.status == "running"
    container.kill()
    assert container.wait()["StatusCode"] == 137
    container.rename("sdk-renamed")
    assert client.containers.get("sdk-renamed").id == container.id


def test_images_list_and_get(client: docker.DockerClient, pier: PierDaemon) -> None:
    image_id = pier.client.get_json("/images/busybox/json")["Id"]
    images = client.images.list()
    assert [i.id for i in images] == [image_id]
    assert images[0].tags == ["busybox:latest"]
    image = client.images.get("busybox")
    assert image.id == image_id
    assert image.tags == ["busybox:latest"]
    assert image.attrs["Os"] == "linux"
    assert client.images.get(image_id).id == image_id
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("nosuchimage")


def test_image_tag_and_remove(client: docker.DockerClient) -> None:
    image = client.images.get("busybox")
    assert image.tag("sdk-tag", "v1") is True
    assert sorted(client.images.get("sdk-tag:v1").tags) == ["busybox:latest", "sdk-tag:v1"]
    client.images.remove("sdk-tag:v1")
    assert client.images.get("busybox").tags == ["busybox:latest"]


def test_run_of_a_missing_image_pulls_and_reports_the_registry(
    client: docker.DockerClient,
) -> None:
    # A registry on loopback that is not there: tests never reach out to Docker Hub.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        ref = f"127.0.0.1:{s.getsockname()[1]}/nosuchimage"
    with pytest.raises(docker.errors.APIError) as err:
        client.containers.run(ref, ["true"], remove=True)
    assert "127.0.0.1" in str(err.value.explanation)
    assert client.containers.list(all=True) == []


def test_failing_command_raises_container_error(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.ContainerError) as info:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
    assert info.value.exit_status == 3
    assert info.value.stderr == b"bad\n"
    assert client.containers.list(all=True) == []


def test_command_not_found_is_an_api_error(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.APIError, match="executable file not found"):
        client.containers.run("busybox", ["no-such-cmd"], remove=True)


@pytest.mark.parametrize(
    ("kwargs", "command", "expected"),
    [
        ({"environment": {"A": "1"}}, "echo $A", b"1\n"),
        ({"working_dir": "/tmp"}, "pwd", b"/tmp\n"),
        ({"user": "nobody"}, "id -u", b"65534\n"),
        ({"hostname": "sdkhost"}, "hostname", b"sdkhost\n"),
        ({"network_mode": "none"}, "ip -o link | wc -l", b"1\n"),
        ({"read_only": True}, "touch /x 2>/dev/null || echo ro", b"ro\n"),
        ({"init": True}, "cat /proc/1/comm", None),
    ],
    ids=["env", "workdir", "user", "hostname", "network-none", "read-only", "init"],
)
def test_run_options(
    client: docker.DockerClient, kwargs: dict[str, object], command: str, expected: bytes | None
) -> None:
    # Detached, then logs: the attached form's output is checked on its own above.
    container = client.containers.run("busybox", ["sh", "-c", command], detach=True, **kwargs)
    assert container.wait()["StatusCode"] == 0
    out = container.logs()
    container.remove()
    if expected is None:
        assert out.strip() in {b"docker-init", b"tini", b"catatonit"}
    else:
        assert out == expected


@pytest.mark.parametrize("runtime", ["runc", "crun"], ids=["runc", "crun"])
def test_runtime(client: docker.DockerClient, runtime: str) -> None:
    container = client.containers.run("busybox", ["true"], detach=True, runtime=runtime)
    assert container.wait()["StatusCode"] == 0
    container.reload()
    assert container.attrs["HostConfig"]["Runtime"] == runtime


def test_log_config_is_dockers_default(client: docker.DockerClient) -> None:
    # Clients branch on this (docker-py's run() above); Docker reports json-file. Pier's
    # default rotates (dockerd's is unbounded), and inspect shows the options merged in
    # as dockerd shows daemon.json's log-opts.
    container = client.containers.create("busybox", ["true"])
    assert container.attrs["HostConfig"]["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": "10m", "max-file": "3"},
    }
