"""Rolling updates watching their new tasks, as swarmkit's updater: a task the update
made that ends within UpdateConfig.Monitor is a failure (even one that exits 0), one
that ends later is not; failures past MaxFailureRatio of the slots trigger the
FailureAction (pause, rollback). One-node swarm, the real docker CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from swarmnodes import create_service, docker, nodes, running_tasks, swarm_of, until

from pier import timefmt
from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope

pytestmark = [pytest.mark.docker_cli, pytest.mark.slow]


@pytest.fixture(scope="module")
def node(leak_scope: Scope, busybox_tar: Path) -> Iterator[PierDaemon]:
    with nodes(leak_scope, busybox_tar, 1) as daemons:
        swarm_of(daemons)
        yield daemons[0]


@pytest.fixture
def manager(node: PierDaemon) -> Iterator[PierDaemon]:
    yield node
    for s in node.client.get_json("/services"):
        node.client.delete(f"/services/{s['ID']}")
    until(lambda: not node.client.get_json("/tasks"), 30, "tasks gone")


def _service(d: PierDaemon, name: str, replicas: int) -> None:
    create_service(d, name, "--replicas", str(replicas))
    until(lambda: len(running_tasks(d, name)) == replicas, 30, f"{name} running")


def _update_status(d: PierDaemon, name: str, *states: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status = d.client.get_json(f"/services/{name}").get("UpdateStatus") or {}
        return status if status.get("State") in states else None

    return until(check, 40, f"{name}'s update {states}")


def _updated(
    d: PierDaemon,
    name: str,
    replicas: int,
    *flags: str,
    settled: tuple[str, ...] = ("paused", "completed"),
) -> dict[str, Any]:
    """A service of `replicas` tasks updated with `flags`: its UpdateStatus once in
    one of the `settled` states."""
    _service(d, name, replicas)
    out = docker(d, "service", "update", "-d", *flags, name)
    assert out.returncode == 0, out.stderr
    return _update_status(d, name, *settled)


def _tasks(d: PierDaemon, name: str, state: str) -> list[dict[str, Any]]:
    """The service's tasks whose current state is `state`."""
    tasks = d.client.get_json("/tasks", filters=json.dumps({"service": [name]}))
    return [t for t in tasks if t["Status"]["State"] == state]


def test_a_task_ending_within_the_monitor_pauses_the_update(manager: PierDaemon) -> None:
    status = _updated(
        manager, "mon", 2, "--update-monitor", "20s", "--restart-delay", "1m", "--args", "sleep 2"
    )
    assert status["State"] == "paused"
    ended = _tasks(manager, "mon", "complete")
    assert ended  # exit 0, but early
    assert status["Message"] in {
        f"update paused due to failure or early termination of task {t['ID']}" for t in ended
    }


def test_a_task_ending_after_the_monitor_is_no_failure(manager: PierDaemon) -> None:
    status = _updated(
        manager, "late", 1,
        "--update-monitor", "1s", "--restart-condition", "none", "--args", "sleep 3",
    )  # fmt: skip
    assert status["State"] == "completed"
    until(lambda: _tasks(manager, "late", "complete"), 20, "the new task ended")
    status = manager.client.get_json("/services/late")["UpdateStatus"]
    assert status["State"] == "completed" and status["Message"] == "update completed"


def test_failures_past_the_ratio_trigger_the_action(manager: PierDaemon) -> None:
    # One slot of four may fail (0.25 <= 0.3); the second is one too many: pause.
    status = _updated(
        manager, "ratio", 4,
        "--update-max-failure-ratio", "0.3", "--restart-delay", "1m", "--args", "false",
    )  # fmt: skip
    assert status["State"] == "paused"

    # As swarmkit's updater, the next slot is updated once the last new task runs: a
    # `false` seen running for a moment lets a third slot start before the second
    # failure pauses the update, so two or three slots fail. The message names a
    # failure past the first, which alone is within the ratio.
    def ended() -> list[dict[str, Any]] | None:
        tasks = manager.client.get_json("/tasks", filters=json.dumps({"service": ["ratio"]}))
        new = [t for t in tasks if t["Spec"]["ContainerSpec"]["Args"] == ["false"]]
        return new if all(t["Status"]["State"] == "failed" for t in new) else None

    failed = sorted(
        until(ended, 20, "the new tasks ended"),
        key=lambda t: timefmt.parse_ns(t["Status"]["Timestamp"]),
    )
    assert len(failed) in (2, 3)
    assert status["Message"] in {
        f"update paused due to failure or early termination of task {t['ID']}" for t in failed[1:]
    }
    old = running_tasks(manager, "ratio")
    assert len(old) == 4 - len(failed)
    assert all(t["Spec"]["ContainerSpec"]["Args"] == ["top"] for t in old)

    # All at once with rollback: four failures of four, past 0.5: back to top.
    status = _updated(
        manager, "back", 4,
        "--update-parallelism", "0", "--update-max-failure-ratio", "0.5",
        "--update-failure-action", "rollback", "--args", "false",
        settled=("rollback_completed", "completed", "paused"),
    )  # fmt: skip
    assert status["State"] == "rollback_completed"
    service = manager.client.get_json("/services/back")
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"] == ["top"]
    until(lambda: len(running_tasks(manager, "back")) == 4, 30, "four tasks of top")
