"""Services on a two-node swarm (a manager and a worker sharing loopback) through the
real docker CLI and the API: convergence output, task containers and their labels,
scale, rolling update and rollback, a stale version, logs, global mode, constraints,
drain, and what Pier refuses."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from swarmnodes import node_id, nodes, running_tasks, swarm_of, task_containers, until

from pier.client.errors import APIError
from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope

DOCKER = "/usr/local/bin/docker"
pytestmark = [pytest.mark.docker_cli, pytest.mark.slow]


@pytest.fixture(scope="module")
def pair(leak_scope: Scope, busybox_tar: Path) -> Iterator[list[PierDaemon]]:
    with nodes(leak_scope, busybox_tar, 2) as daemons:
        swarm_of(daemons)
        yield daemons


@pytest.fixture
def manager(pair: list[PierDaemon]) -> Iterator[PierDaemon]:
    yield pair[0]
    for s in pair[0].client.get_json("/services"):
        pair[0].client.delete(f"/services/{s['ID']}")
    for d in pair:
        until(lambda d=d: not task_containers(d), 30, "task containers removed")


def docker(d: PierDaemon, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKER, *args], env=d.env(), capture_output=True, text=True, timeout=timeout
    )


def test_create_converges_and_runs_named_labelled_tasks_on_both_nodes(
    manager: PierDaemon, pair: list[PierDaemon]
) -> None:
    out = docker(manager, "service", "create", "--name", "web", "--replicas", "4", "busybox", "top")
    assert out.returncode == 0, out.stderr
    service_id = out.stdout.splitlines()[0]
    assert "overall progress: 4 out of 4 tasks" in out.stdout
    assert out.stdout.rstrip().endswith(f"verify: Service {service_id} converged")

    tasks = running_tasks(manager, "web")
    assert sorted(t["Slot"] for t in tasks) == [1, 2, 3, 4]
    assert {t["NodeID"] for t in tasks} == {node_id(d) for d in pair}  # spread
    for d in pair:
        for task_id, c in task_containers(d).items():
            task = next(t for t in tasks if t["ID"] == task_id)
            assert c["Names"] == [f"/web.{task['Slot']}.{task_id}"]
            labels = c["Labels"]
            assert labels["com.docker.swarm.service.id"] == service_id
            assert labels["com.docker.swarm.service.name"] == "web"
            assert labels["com.docker.swarm.node.id"] == node_id(d)
            assert labels["com.docker.swarm.task.name"] == f"web.{task['Slot']}.{task_id}"
            assert task["Status"]["ContainerStatus"]["ContainerID"] == c["Id"]

    ls = docker(manager, "service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}}")
    assert ls.stdout == "web replicated 4/4\n"
    ps = docker(manager, "service", "ps", "web", "--format", "{{.Name}} {{.DesiredState}}")
    assert sorted(ps.stdout.splitlines()) == [f"web.{i} Running" for i in range(1, 5)]
    pretty = docker(manager, "service", "inspect", "--pretty", "web")
    assert "Name:\t\tweb" in pretty.stdout and "Replicas:\t4" in pretty.stdout

    # Scaling down shuts the surplus down at once, so the CLI's display converges.
    scale = docker(manager, "service", "scale", "web=2")
    assert scale.returncode == 0, scale.stderr
    assert "web scaled to 2" in scale.stdout
    until(lambda: len(running_tasks(manager, "web")) == 2, 20, "two tasks")
    shut = manager.client.get_json(
        "/tasks", filters=json.dumps({"service": ["web"], "desired-state": ["shutdown"]})
    )
    assert sorted(t["Slot"] for t in shut) == [3, 4]
    until(lambda: sum(len(task_containers(d, running=True)) for d in pair) == 2, 30, "two running")
    # The surplus tasks' containers stay, stopped, as dockerd keeps them.
    assert sum(len(task_containers(d)) for d in pair) == 4


def test_update_rollback_and_a_stale_version(manager: PierDaemon) -> None:
    assert (
        docker(
            manager, "service", "create", "-d", "--name", "up", "--replicas", "2", "busybox", "top"
        ).returncode
        == 0
    )
    until(lambda: len(running_tasks(manager, "up")) == 2, 30, "two tasks")
    before = manager.client.get_json("/services/up")
    out = docker(
        manager, "service", "update", "--env-add", "COLOUR=blue", "--update-parallelism", "2", "up"
    )
    assert out.returncode == 0, out.stderr
    tasks = running_tasks(manager, "up")
    assert len(tasks) == 2
    assert all(t["Spec"]["ContainerSpec"]["Env"] == ["COLOUR=blue"] for t in tasks)
    # The CLI stops watching once the tasks ran for the monitoring period; the update
    # itself completes one monitoring period after its last task runs (as swarmkit's).
    service = until(
        lambda: (
            (s := manager.client.get_json("/services/up"))["UpdateStatus"]["State"] == "completed"
            and s
        ),
        15,
        "the update completed",
    )
    assert service["PreviousSpec"]["TaskTemplate"] == before["Spec"]["TaskTemplate"]
    up_to_date = manager.client.get_json(
        "/tasks", filters=json.dumps({"service": ["up"], "_up-to-date": ["true"]})
    )
    assert {t["ID"] for t in up_to_date} == {t["ID"] for t in tasks}

    with pytest.raises(APIError) as stale:
        manager.client.post_json(
            f"/services/{service['ID']}/update",
            before["Spec"],
            version=before["Version"]["Index"],
        )
    assert (stale.value.status, str(stale.value)) == (
        500,
        "rpc error: code = Unknown desc = update out of sequence",
    )

    back = docker(manager, "service", "rollback", "up")
    assert back.returncode == 0, back.stderr
    assert "rollback: manually requested rollback" in back.stdout
    until(
        lambda: (
            [t for t in running_tasks(manager, "up") if not t["Spec"]["ContainerSpec"].get("Env")]
            and len(running_tasks(manager, "up")) == 2
        ),
        30,
        "rolled back tasks",
    )
    until(
        lambda: (
            manager.client.get_json("/services/up")["UpdateStatus"]["State"] == "rollback_completed"
        ),
        15,
        "the rollback completed",
    )


def test_logs_from_every_node_carry_their_task(manager: PierDaemon, pair: list[PierDaemon]) -> None:
    assert (
        docker(
            manager,
            "service",
            "create",
            "-d",
            "--name",
            "talk",
            "--replicas",
            "2",
            "busybox",
            "sh",
            "-c",
            "echo hello from $HOSTNAME; exec sleep 1000",
        ).returncode
        == 0
    )
    tasks = until(
        lambda: len(running_tasks(manager, "talk")) == 2 and running_tasks(manager, "talk")
    )
    assert {t["NodeID"] for t in tasks} == {node_id(d) for d in pair}

    def lines() -> list[str] | None:
        out = docker(manager, "service", "logs", "--raw", "--no-trunc", "talk")
        got = sorted(out.stdout.splitlines())
        return got if len(got) == 2 else None

    got = until(lines, 20, "two lines")
    assert all(line.startswith("hello from ") for line in got), got
    named = docker(manager, "service", "logs", "--no-trunc", "talk").stdout.splitlines()
    prefixes = sorted(line.split(" ", 1)[0] for line in named)
    assert prefixes == sorted(f"talk.{t['Slot']}.{t['ID']}@{_hostname(pair[0])}" for t in tasks)


def _hostname(d: PierDaemon) -> str:
    return str(d.client.get_json("/info")["Name"])


def test_global_mode_constraints_labels_and_drain(
    manager: PierDaemon, pair: list[PierDaemon]
) -> None:
    worker = pair[1]
    assert (
        docker(
            manager,
            "service",
            "create",
            "-d",
            "--name",
            "everywhere",
            "--mode",
            "global",
            "busybox",
            "top",
        ).returncode
        == 0
    )
    tasks = until(
        lambda: (
            len(running_tasks(manager, "everywhere")) == 2 and running_tasks(manager, "everywhere")
        )
    )
    assert {t["NodeID"] for t in tasks} == {node_id(d) for d in pair}

    assert (
        docker(
            manager,
            "service",
            "create",
            "-d",
            "--name",
            "onworker",
            "--replicas",
            "2",
            "--constraint",
            "node.role==worker",
            "busybox",
            "top",
        ).returncode
        == 0
    )
    tasks = until(
        lambda: len(running_tasks(manager, "onworker")) == 2 and running_tasks(manager, "onworker")
    )
    assert {t["NodeID"] for t in tasks} == {node_id(worker)}

    assert (
        docker(manager, "node", "update", "--label-add", "disk=ssd", node_id(manager)).returncode
        == 0
    )
    assert (
        docker(
            manager,
            "service",
            "create",
            "-d",
            "--name",
            "ssd",
            "--constraint",
            "node.labels.disk==ssd",
            "busybox",
            "top",
        ).returncode
        == 0
    )
    tasks = until(lambda: running_tasks(manager, "ssd"))
    assert tasks[0]["NodeID"] == node_id(manager)

    # Drain: the worker's tasks go (a replicated one finds no other worker: pending).
    drained = docker(manager, "node", "update", "--availability", "drain", node_id(worker))
    assert drained.returncode == 0, drained.stderr
    until(lambda: not task_containers(worker, running=True), 30, "the drained worker emptied")
    pending = manager.client.get_json(
        "/tasks", filters=json.dumps({"service": ["onworker"], "desired-state": ["running"]})
    )
    assert pending and all(t["Status"]["State"] == "pending" for t in pending)
    assert "no suitable node" in pending[0]["Status"]["Err"]
    assert (
        docker(manager, "node", "update", "--availability", "active", node_id(worker)).returncode
        == 0
    )
    until(lambda: len(running_tasks(manager, "onworker")) == 2, 30, "back on the worker")
    ls = docker(manager, "node", "ls", "--format", "{{.Status}} {{.Availability}}")
    assert ls.stdout.splitlines() == ["Ready Active", "Ready Active"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--secret", "s"), "secret not found"),
        (("--mode", "replicated-job"), "job services"),
    ],
    ids=["secret", "job"],
)
def test_refusals_are_clear(manager: PierDaemon, args: tuple[str, ...], words: str) -> None:
    out = docker(manager, "service", "create", "-d", *args, "busybox", "top")
    assert out.returncode != 0
    assert words in out.stderr
    assert manager.client.get_json("/services") == []


def test_networks_in_a_spec_are_refused(manager: PierDaemon) -> None:
    spec = {
        "Name": "net",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}, "Networks": [{"Target": "x"}]},
    }
    with pytest.raises(APIError) as refused:
        manager.client.post_json("/services/create", spec)
    assert refused.value.status == 501
    assert "overlay networks" in str(refused.value)


def test_secret_and_config_creation_is_refused(manager: PierDaemon) -> None:
    out = subprocess.run(
        [DOCKER, "secret", "create", "s", "-"],
        input="x",
        env=manager.env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert out.stderr == "Error response from daemon: Pier does not support secrets in swarm mode\n"
    assert docker(manager, "secret", "ls", "-q").stdout == ""


def _get(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as resp:
        return str(resp.read().decode().strip())


def test_ingress_port_reaches_tasks_on_every_node(
    manager: PierDaemon, pair: list[PierDaemon]
) -> None:
    from swarmnodes import free_port

    port = free_port()
    out = docker(
        manager,
        "service",
        "create",
        "--name",
        "mesh",
        "--replicas",
        "2",
        "--publish",
        f"{port}:80",
        "busybox",
        "sh",
        "-c",
        "echo $HOSTNAME > /index.html; exec httpd -f -p 80 -h /",
    )
    assert out.returncode == 0, out.stderr
    service = manager.client.get_json("/services/mesh")
    assert service["Endpoint"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port, "PublishMode": "ingress"}
    ]
    tasks = running_tasks(manager, "mesh")
    assert {t["NodeID"] for t in tasks} == {node_id(d) for d in pair}
    hostnames = {c["Id"][:12] for d in pair for c in task_containers(d).values()}
    # The nodes share loopback here: one of them holds the port and forwards to both.
    seen = until(
        lambda: {_get(port) for _ in range(6)} == hostnames and hostnames,
        20,
        "both tasks answering through the port",
    )
    assert seen


def test_restart_policy_and_task_logs(manager: PierDaemon) -> None:
    out = docker(
        manager,
        "service",
        "create",
        "-d",
        "--name",
        "flaky",
        "--restart-condition",
        "on-failure",
        "--restart-delay",
        "0s",
        "--restart-max-attempts",
        "2",
        "busybox",
        "sh",
        "-c",
        "echo attempt; exit 3",
    )
    assert out.returncode == 0, out.stderr

    def ended() -> list[dict[str, object]] | None:
        tasks = manager.client.get_json("/tasks", filters=json.dumps({"service": ["flaky"]}))
        failed = [t for t in tasks if t["Status"]["State"] == "failed"]
        return failed if len(failed) == 3 else None

    failed = until(ended, 30, "the first run and two restarts")
    assert all(t["Status"]["Err"] == "task: non-zero exit (3)" for t in failed)
    assert all(t["Status"]["ContainerStatus"]["ExitCode"] == 3 for t in failed)

    # No fourth: the policy gave up. The orchestrator marks the last failed task's
    # desired state on its next pass, after the agent reported the failure.
    def given_up() -> list[dict[str, object]] | None:
        tasks = manager.client.get_json("/tasks", filters=json.dumps({"service": ["flaky"]}))
        return tasks if all(t["DesiredState"] == "shutdown" for t in tasks) else None

    assert len(until(given_up, 30, "every task's desired state shutdown")) == 3

    one = docker(manager, "service", "create", "-d", "--name", "once", "--restart-condition",
                 "none", "busybox", "sh", "-c", "echo said once")  # fmt: skip
    assert one.returncode == 0
    task = until(
        lambda: [
            t
            for t in manager.client.get_json("/tasks", filters=json.dumps({"service": ["once"]}))
            if t["Status"]["State"] == "complete"
        ]
    )[0]
    logs = until(lambda: docker(manager, "service", "logs", "--raw", task["ID"]).stdout, 20)
    assert logs == "said once\n"
