"""The docker SDK on a node outside any swarm: its teardown (`swarm.leave(force=True)`)
gets the 503 it tolerates, and service calls fail with moby's message.

docker-py's leave_swarm returns True on a 503 (or 406) when `force` is set and raises
on anything else, so only the 503 lets a test session's teardown pass."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import docker.errors
import pytest

from pier_testing.daemon import PierDaemon

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)


@pytest.fixture
def client(pier: PierDaemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=pier.host, timeout=60)
    try:
        yield c
    finally:
        c.close()


def test_forced_leave_is_accepted_as_teardown(client: docker.DockerClient) -> None:
    assert client.swarm.leave(force=True) is True


def test_leave_raises_a_503(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.APIError) as caught:
        client.swarm.leave()
    assert caught.value.status_code == 503
    assert caught.value.explanation == "This node is not part of a swarm"


def test_services_list_is_refused(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.APIError) as caught:
        client.services.list()
    assert caught.value.status_code == 503
    assert caught.value.explanation == NOT_A_MANAGER


def test_nodes_list_is_refused(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.APIError) as caught:
        client.nodes.list()
    assert caught.value.status_code == 503


def test_swarm_model_tolerates_an_inactive_node(client: docker.DockerClient) -> None:
    # The Swarm model's constructor reloads and swallows only a 406 or 503 of GET /swarm.
    swarm = client.swarm
    assert swarm.attrs == {}
    with pytest.raises(docker.errors.APIError) as caught:
        swarm.reload()
    assert caught.value.status_code == 503
    assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
