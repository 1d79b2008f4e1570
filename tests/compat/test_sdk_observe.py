"""docker-py's stats, top, update, health and events against pierd, unchanged."""

from __future__ import annotations

import time
from collections.abc import Iterator

import docker
import docker.errors
import docker.types
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


def test_stats_one_and_streamed(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sleep", "600"], detach=True, mem_limit="32m")
    s = c.stats(stream=False)
    assert s["id"] == c.id and s["memory_stats"]["limit"] == 32 * 1024 * 1024
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert s["precpu_stats"]["system_cpu_usage"] > 0
    one_shot = c.stats(stream=False, one_shot=True)
    assert one_shot["preread"] == "0001-01-01T00:00:00Z"
    frames = c.stats(stream=True, decode=True)
    first, second = next(frames), next(frames)
    assert second["preread"] == first["read"]
    frames.close()  # type: ignore[attr-defined]


def test_top(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sleep", "600"], detach=True)
    top = c.top()
    assert top["Titles"][1] == "PID"
    assert any(p[-1] == "sleep 600" for p in top["Processes"])
    assert c.top(ps_args="-o pid,comm")["Titles"] == ["PID", "COMMAND"]


def test_update(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sleep", "600"], detach=True)
    result = c.update(
        mem_limit="64m",
        memswap_limit="128m",
        cpu_shares=256,
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
    )
    assert result == {"Warnings": []}
    c.reload()
    hc = c.attrs["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"], hc["CpuShares"]) == (
        64 * 1024 * 1024,
        128 * 1024 * 1024,
        256,
    )
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    with pytest.raises(docker.errors.APIError) as err:
        c.update(mem_limit="1k")
    assert err.value.status_code == 400


def test_health_in_attrs(client: docker.DockerClient) -> None:
    check = docker.types.Healthcheck(test=["CMD", "true"], interval=200_000_000, retries=1)
    c = client.containers.run("busybox", ["sleep", "600"], detach=True, healthcheck=check)

    def healthy() -> bool:
        c.reload()
        return bool(c.attrs["State"].get("Health", {}).get("Status") == "healthy")

    wait_for(healthy, timeout=20)
    assert c.health == "healthy"
    assert c.attrs["State"]["Health"]["Log"][-1]["ExitCode"] == 0


def test_events_decoded(client: docker.DockerClient) -> None:
    since = time.time()
    c = client.containers.run("busybox", ["true"], detach=True, name="sdk-ev")
    c.wait()
    events = client.events(since=since, until=time.time(), decode=True,
                           filters={"container": "sdk-ev"})  # fmt: skip
    actions = [e["Action"] for e in events]
    assert actions[0] == "create" and "start" in actions and actions[-1] == "die"
