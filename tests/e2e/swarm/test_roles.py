"""Promoting and demoting nodes with the real docker CLI on a swarm of one manager and
two workers made by scripts/cluster: a promoted worker gets an etcd member of its own
and serves the manager API; with three managers the swarm outlives its first leader;
a demoted manager's member, process and data go (at once for a dead manager, whose node
comes back as a worker); moby's refusals for the last manager and for a demotion that
would lose etcd's quorum."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from swarmcluster import Cluster, cluster_up, etcd_members, etcd_pids, node_id, running, until

from pier_testing.leaks import Scope

pytestmark = [pytest.mark.slow, pytest.mark.docker_cli]


@pytest.fixture(scope="module")
def cluster(leak_scope: Scope) -> Iterator[Cluster]:
    with cluster_up(leak_scope, managers=1) as c:
        yield c


def _host(cluster: Cluster, i: int) -> str:
    return f"{cluster.name}-node{i}"


def _ping_swarm(cluster: Cluster, i: int) -> str:
    with cluster.client(i).request("GET", "/_ping") as resp:
        resp.read()
        return resp.headers["swarm"]


def _is_manager(cluster: Cluster, i: int) -> bool:
    info = cluster.client(i).get_json("/info")["Swarm"]
    return bool(info["ControlAvailable"])


def test_the_last_manager_cannot_be_demoted_and_a_worker_cannot_promote(
    cluster: Cluster,
) -> None:
    out = cluster.docker(1, "node", "demote", _host(cluster, 1))
    assert out.returncode != 0
    assert out.stderr.strip() == (
        "Error response from daemon: rpc error: code = FailedPrecondition desc = "
        "attempting to demote the last manager of the swarm"
    )
    out = cluster.docker(2, "node", "promote", _host(cluster, 2))
    assert out.returncode != 0
    assert "This node is not a swarm manager. Worker nodes can't be used" in out.stderr
    assert etcd_members(cluster) == {node_id(cluster, 1)}


def test_promoted_workers_become_etcd_members_and_serve_the_manager_api(
    cluster: Cluster,
) -> None:
    out = cluster.docker(1, "node", "promote", _host(cluster, 2))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"Node {_host(cluster, 2)} promoted to a manager in the swarm."
    ids = {i: node_id(cluster, i) for i in (1, 2, 3)}
    until(lambda: etcd_members(cluster) == {ids[1], ids[2]}, 60, "node 2's etcd member")
    until(lambda: _is_manager(cluster, 2), 30, "node 2 a manager")
    assert _ping_swarm(cluster, 2) == "active/manager"
    assert set(etcd_pids(cluster)) == {ids[1], ids[2]}

    # The new manager promotes the last worker itself.
    out = cluster.docker(2, "node", "promote", _host(cluster, 3))
    assert out.returncode == 0, out.stderr
    until(lambda: etcd_members(cluster) == set(ids.values()), 60, "node 3's etcd member")
    until(lambda: _is_manager(cluster, 3), 30, "node 3 a manager")

    def listed() -> list[str] | None:
        out = cluster.docker(
            3, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"
        )
        lines = sorted(out.stdout.splitlines())
        return lines if all(line.split()[2:] for line in lines) else None

    lines = until(listed, 30, "three managers listed")
    assert [line.rsplit(" ", 1)[0] for line in lines] == [
        f"{_host(cluster, i)} Ready" for i in (1, 2, 3)
    ]
    assert sorted(line.rsplit(" ", 1)[1] for line in lines) == [
        "Leader",
        "Reachable",
        "Reachable",
    ]
    info = cluster.client(3).get_json("/info")["Swarm"]
    assert info["Managers"] == 3 and len(info["RemoteManagers"]) == 3


def test_three_managers_outlive_the_first_leader_and_refuse_losing_quorum(
    cluster: Cluster,
) -> None:
    ids = {i: node_id(cluster, i) for i in (1, 2, 3)}
    cluster.script("kill", "1")
    until(
        lambda: any(
            n["ID"] == ids[1] and n["Status"]["State"] == "down"
            for n in cluster.client(2).get_json("/nodes")
        ),
        30,
        "node 1 down",
    )
    out = cluster.docker(
        2, "service", "create", "--name", "after", "--replicas", "2", "busybox", "top"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip().endswith("converged"), out.stdout
    assert {t["NodeID"] for t in running(cluster, "after", node=3)} <= {ids[2], ids[3]}

    # Two members of three are up: removing one more would leave one of two.
    out = cluster.docker(2, "node", "demote", _host(cluster, 3))
    assert out.returncode != 0
    assert out.stderr.strip() == (
        "Error response from daemon: rpc error: code = FailedPrecondition desc = "
        "can't remove member from the raft: this would result in a loss of quorum"
    )
    assert etcd_members(cluster) == set(ids.values())
    assert cluster.docker(2, "service", "rm", "after").returncode == 0

    # The dead manager itself can be demoted: its member goes at once, and back, the
    # node finds itself removed and goes on as a worker without starting etcd.
    out = cluster.docker(2, "node", "demote", _host(cluster, 1))
    assert out.returncode == 0, out.stderr
    until(lambda: etcd_members(cluster) == {ids[2], ids[3]}, 30, "node 1's member removed")
    cluster.script("start", "1")
    until(
        lambda: all(n["Status"]["State"] == "ready" for n in cluster.client(2).get_json("/nodes")),
        30,
        "node 1 back",
    )
    assert not _is_manager(cluster, 1) and _ping_swarm(cluster, 1) == "active/worker"
    log = (cluster.dir / "node1" / "pierd.log").read_text()
    assert "etcd member was removed while it was away" in log
    assert set(etcd_pids(cluster)) == {ids[2], ids[3]}
    assert not (cluster.dir / "node1" / "data" / "swarm" / "etcd").exists()


def test_demoted_managers_leave_etcd_and_go_on_as_workers(cluster: Cluster) -> None:
    ids = {i: node_id(cluster, i) for i in (1, 2, 3)}
    # A manager demotes itself.
    out = cluster.docker(3, "node", "demote", _host(cluster, 3))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"Manager {_host(cluster, 3)} demoted in the swarm."
    until(lambda: etcd_members(cluster) == {ids[2]}, 60, "node 3's member removed")
    until(lambda: set(etcd_pids(cluster)) == {ids[2]}, 30, "node 3's etcd process gone")
    until(lambda: not _is_manager(cluster, 3), 30, "node 3 a worker")
    assert not (cluster.dir / "node3" / "data" / "swarm" / "etcd").exists()
    assert _ping_swarm(cluster, 3) == "active/worker"
    refused = cluster.docker(3, "node", "ls")
    assert refused.returncode != 0 and "This node is not a swarm manager" in refused.stderr

    # A node promoted again after its member was removed gets a new one.
    assert cluster.docker(2, "node", "promote", _host(cluster, 1)).returncode == 0
    until(lambda: etcd_members(cluster) == {ids[1], ids[2]}, 60, "node 1's new member")
    until(lambda: _is_manager(cluster, 1), 30, "node 1 a manager again")

    # Another manager demotes a manager; the workers still run tasks.
    out = cluster.docker(1, "node", "demote", _host(cluster, 2))
    assert out.returncode == 0, out.stderr
    until(lambda: etcd_members(cluster) == {ids[1]}, 60, "node 2's member removed")
    until(lambda: set(etcd_pids(cluster)) == {ids[1]}, 30, "node 2's etcd process gone")
    until(lambda: not _is_manager(cluster, 2), 30, "node 2 a worker")
    assert not (cluster.dir / "node2" / "data" / "swarm" / "etcd").exists()
    # Whichever node led, the one manager left leads now.
    until(
        lambda: any(
            n["ID"] == ids[1] and n["ManagerStatus"].get("Leader")
            for n in cluster.client(1).get_json("/nodes")
            if "ManagerStatus" in n
        ),
        30,
        "node 1 the leader",
    )
    out = cluster.docker(
        1, "service", "create", "--name", "w", "--mode", "global", "busybox", "top"
    )
    assert out.returncode == 0, out.stderr
    assert {t["NodeID"] for t in running(cluster, "w")} == set(ids.values())
    roles = {n["ID"]: n["Spec"]["Role"] for n in cluster.client(1).get_json("/nodes")}
    assert roles == {ids[1]: "manager", ids[2]: "worker", ids[3]: "worker"}
    assert cluster.docker(1, "service", "rm", "w").returncode == 0
    until(lambda: not cluster.client(1).get_json("/tasks"), 30, "tasks gone")
