"""Engine labels: daemon.json `labels` are /info's Labels and a node's
Description.Engine.Labels (brought up to date when pierd starts again with others),
and `engine.labels.<key>` constraints place tasks by them, with the docker CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from swarmnodes import (
    configure,
    create_service,
    docker,
    node_id,
    nodes,
    running_tasks,
    swarm_of,
    until,
)

from pier.config import load_config_file
from pier.errors import InvalidParameter
from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope

pytestmark = [pytest.mark.docker_cli, pytest.mark.slow]


@pytest.fixture(scope="module")
def pair(leak_scope: Scope, busybox_tar: Path) -> Iterator[list[PierDaemon]]:
    configs = [{"labels": ["zone=a", "tier=db"]}, {"labels": ["zone=b"]}]
    with nodes(leak_scope, busybox_tar, 2, configs=configs) as daemons:
        swarm_of(daemons)
        yield daemons


def _engine_labels(manager: PierDaemon) -> dict[str, dict[str, str]]:
    """Each node's Description.Engine.Labels, by node ID."""
    return {
        n["ID"]: n["Description"]["Engine"]["Labels"] for n in manager.client.get_json("/nodes")
    }


def test_engine_labels_are_published_and_constrain_placement(pair: list[PierDaemon]) -> None:
    manager, worker = pair
    assert manager.client.get_json("/info")["Labels"] == ["zone=a", "tier=db"]
    assert _engine_labels(manager) == {
        node_id(manager): {"zone": "a", "tier": "db"},
        node_id(worker): {"zone": "b"},
    }
    filtered = manager.client.get_json("/nodes", filters='{"label":["tier=db"]}')
    assert [n["ID"] for n in filtered] == [node_id(manager)]

    create_service(manager, "onb", "--replicas", "3", "--constraint", "engine.labels.zone==b")
    until(lambda: len(running_tasks(manager, "onb")) == 3, 30, "three tasks")
    assert {t["NodeID"] for t in running_tasks(manager, "onb")} == {node_id(worker)}

    create_service(manager, "notdb", "--mode", "global", "--constraint", "engine.labels.tier!=db")
    until(lambda: running_tasks(manager, "notdb"), 30, "a global task")
    assert [t["NodeID"] for t in running_tasks(manager, "notdb")] == [node_id(worker)]
    for name in ("onb", "notdb"):
        assert docker(manager, "service", "rm", name).returncode == 0
    until(lambda: not manager.client.get_json("/tasks"), 30, "tasks gone")

    # The worker's pierd comes back with other labels: its record follows.
    worker.kill9()
    configure(worker, {"labels": ["zone=c"]})
    worker.start()
    until(
        lambda: _engine_labels(manager)[node_id(worker)] == {"zone": "c"},
        30,
        "the worker's new labels",
    )


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        (["zone"], "bad attribute format: zone"),
        (["zone=a", "zone=b"], "conflict labels for zone=b and zone=a"),
        (["com.docker.x=1"], "label com.docker.x=1 is not allowed"),
    ],
)
def test_bad_daemon_labels_are_refused_in_dockerds_words(
    tmp_path: Path, labels: list[str], words: str
) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"labels": labels}))
    with pytest.raises(InvalidParameter) as refused:
        load_config_file(path)
    assert words in str(refused.value)
