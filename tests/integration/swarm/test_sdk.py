"""The docker SDK against a one-node swarm: init, inspect, services with their tasks,
scale, update, remove, leave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from swarmnodes import free_port, nodes, task_containers, until

from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope

pytestmark = pytest.mark.slow


@pytest.fixture
def sdk(leak_scope: Scope, busybox_tar: Path) -> Iterator[tuple[PierDaemon, docker.DockerClient]]:
    with nodes(leak_scope, busybox_tar, 1) as (daemon,):
        client = docker.DockerClient(base_url=daemon.host, timeout=60)
        try:
            yield daemon, client
        finally:
            client.close()


def test_sdk_swarm_and_services(sdk: tuple[PierDaemon, docker.DockerClient]) -> None:
    daemon, client = sdk
    port = free_port()
    node_id = client.swarm.init(listen_addr=f"127.0.0.1:{port}", advertise_addr="127.0.0.1")
    assert client.swarm.attrs["Spec"]["Name"] == "default"
    assert client.info()["Swarm"]["NodeID"] == node_id
    assert [n.id for n in client.nodes.list()] == [node_id]

    mode = docker.types.ServiceMode("replicated", replicas=2)
    service = client.services.create("busybox", ["top"], name="sdk", mode=mode)
    until(
        lambda: len([t for t in service.tasks() if t["Status"]["State"] == "running"]) == 2,
        30,
        "two tasks",
    )
    assert service.scale(3)
    until(lambda: len(service.tasks({"desired-state": "running"})) == 3, 30, "three tasks")
    service.reload()
    service.update(env=["X=1"])
    until(
        lambda: (
            all(
                t["Spec"]["ContainerSpec"].get("Env") == ["X=1"]
                for t in service.tasks({"desired-state": "running"})
            )
            and len(service.tasks({"desired-state": "running"})) == 3
        ),
        30,
        "updated tasks",
    )
    assert client.services.get("sdk").attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] == [
        "X=1"
    ]
    service.remove()
    until(lambda: not task_containers(daemon), 30, "containers removed")
    assert client.swarm.leave(force=True) is True
    assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
