"""The swarm workload's setup and teardown are called for every engine; only Pier's
brings a cluster up, so only Pier's teardown may bring it down."""

from pathlib import Path

import pytest
from pierbench.cluster import Swarm
from pierbench.engines import DockerEngine, PierEngine, Unavailable
from pierbench.workloads import Context


class _Cluster:
    def __init__(self) -> None:
        self.said: list[str] = []

    def script(self, *args: str) -> None:
        self.said.append(" ".join(args))


def test_only_piers_teardown_takes_the_cluster_down(tmp_path: Path) -> None:
    ctx = Context(workdir=tmp_path, quick=True, engines=[])
    pier = PierEngine(root=tmp_path / "pier", docker_cli="docker", bindir=tmp_path)
    docker = DockerEngine(root=tmp_path / "docker", docker_cli="docker")
    wl = Swarm(quick=True)
    cluster = _Cluster()
    wl._cluster = cluster  # type: ignore[assignment]
    wl.teardown(ctx, docker)  # after Docker's setup refused
    assert cluster.said == []
    wl.teardown(ctx, pier)
    assert cluster.said == ["down"]


def test_measuring_without_a_cluster_is_unavailable(tmp_path: Path) -> None:
    ctx = Context(workdir=tmp_path, quick=True, engines=[])
    pier = PierEngine(root=tmp_path / "pier", docker_cli="docker", bindir=tmp_path)
    with pytest.raises(Unavailable):
        Swarm(quick=True).measure(ctx, pier, 0)
