"""Swarm lifecycle through the API: init with a supervised etcd, join as worker and as
manager, /info and /_ping, inspect and update (tokens, version), leave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_fixtures import etcd_processes
from swarmnodes import free_port, nodes, until

from pier.client.errors import APIError
from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trio(leak_scope: Scope, busybox_tar: Path) -> Iterator[list[PierDaemon]]:
    with nodes(leak_scope, busybox_tar, 3) as daemons:
        yield daemons


def _init(d: PierDaemon) -> tuple[str, str]:
    port = free_port()
    node_id = d.client.post_json(
        "/swarm/init", {"ListenAddr": f"127.0.0.1:{port}", "AdvertiseAddr": f"127.0.0.1:{port}"}
    )
    return str(node_id), f"127.0.0.1:{port}"


def _join(d: PierDaemon, manager: str, token: str) -> None:
    port = free_port()
    d.client.post_json(
        "/swarm/join",
        {
            "ListenAddr": f"127.0.0.1:{port}",
            "AdvertiseAddr": f"127.0.0.1:{port}",
            "RemoteAddrs": [manager],
            "JoinToken": token,
        },
    )


def test_init_join_inspect_update_leave(trio: list[PierDaemon]) -> None:
    a, b, c = trio
    node_id, addr = _init(a)
    assert len(node_id) == 25
    assert etcd_processes(str(a.base))  # a supervised member under its roots
    with pytest.raises(APIError) as again:
        _init(a)
    assert again.value.status == 503
    assert "already part of a swarm" in str(again.value)

    swarm = a.client.get_json("/swarm")
    tokens = swarm["JoinTokens"]
    assert tokens["Worker"].startswith("SWMTKN-1-") and tokens["Worker"] != tokens["Manager"]
    assert swarm["Spec"]["Name"] == "default"
    info = a.client.get_json("/info")["Swarm"]
    assert info["NodeID"] == node_id
    assert info["LocalNodeState"] == "active" and info["ControlAvailable"] is True
    assert info["Nodes"] == 1 and info["Managers"] == 1
    assert info["RemoteManagers"] == [{"NodeID": node_id, "Addr": addr}]
    assert a.client.ping().headers.get("swarm") == "active/manager"

    with pytest.raises(APIError) as bad:
        worker = tokens["Worker"]
        _join(b, addr, worker[:-1] + ("y" if worker.endswith("x") else "x"))
    assert bad.value.status == 400
    assert "A valid join token is necessary" in str(bad.value)
    _join(b, addr, tokens["Worker"])
    assert b.client.ping().headers.get("swarm") == "active/worker"
    worker_info = b.client.get_json("/info")["Swarm"]
    assert worker_info["ControlAvailable"] is False and "Nodes" not in worker_info
    with pytest.raises(APIError) as not_manager:
        b.client.get_json("/nodes")
    assert not_manager.value.status == 503
    assert "Worker nodes can't be used" in str(not_manager.value)

    _join(c, addr, tokens["Manager"])
    assert etcd_processes(str(c.base))  # the second member
    nodes_seen = until(
        lambda: (
            len([n for n in c.client.get_json("/nodes") if n["Status"]["State"] == "ready"]) == 3
            and c.client.get_json("/nodes")
        ),
        what="three ready nodes",
    )
    roles = sorted(n["Spec"]["Role"] for n in nodes_seen)
    assert roles == ["manager", "manager", "worker"]
    leaders = [n["ID"] for n in nodes_seen if n.get("ManagerStatus", {}).get("Leader")]
    assert leaders == [node_id]

    # Update: a stale version is refused with moby's words; rotation changes a token.
    version = swarm["Version"]["Index"]
    a.client.post_json("/swarm/update", swarm["Spec"], version=version, rotateWorkerToken=1)
    rotated = a.client.get_json("/swarm")
    assert rotated["JoinTokens"]["Worker"] != tokens["Worker"]
    assert rotated["JoinTokens"]["Manager"] == tokens["Manager"]
    with pytest.raises(APIError) as stale:
        a.client.post_json("/swarm/update", swarm["Spec"], version=version)
    assert (stale.value.status, str(stale.value)) == (
        500,
        "rpc error: code = Unknown desc = update out of sequence",
    )
    # A new heartbeat period: leases of the matching TTL (three periods).
    spec = {**rotated["Spec"], "Dispatcher": {"HeartbeatPeriod": 2_000_000_000}}
    a.client.post_json("/swarm/update", spec, version=rotated["Version"]["Index"])
    rotated = a.client.get_json("/swarm")
    assert rotated["Spec"]["Dispatcher"]["HeartbeatPeriod"] == 2_000_000_000
    until(lambda: _lease_ttl(a, node_id) == 6, 10, "a 6 s lease")
    assert a.client.get_json("/info")["Swarm"]["Cluster"]["Spec"]["Dispatcher"] == {
        "HeartbeatPeriod": 2_000_000_000
    }
    for path in ("/swarm/unlockkey",):
        with pytest.raises(APIError) as no_lock:
            a.client.get_json(path)
        assert no_lock.value.status == 400 and "autolock" in str(no_lock.value)
    with pytest.raises(APIError) as autolock:
        a.client.post_json(
            "/swarm/update",
            {**rotated["Spec"], "EncryptionConfig": {"AutoLockManagers": True}},
            version=rotated["Version"]["Index"],
        )
    assert autolock.value.status == 400

    # Leave: a manager without force is refused in Docker's words; a worker leaves.
    with pytest.raises(APIError) as refused:
        c.client.post("/swarm/leave")
    assert refused.value.status == 503
    assert str(refused.value).startswith(
        "You are attempting to leave the swarm on a node that is participating as a manager."
    )
    b.client.post("/swarm/leave")
    assert b.client.get_json("/info")["Swarm"]["LocalNodeState"] == "inactive"
    until(
        lambda: any(n["Status"]["State"] == "down" for n in a.client.get_json("/nodes")),
        what="the worker seen down",
    )
    # Node removal: a manager must be demoted first, a live node needs force, a down
    # one goes (moby's FailedPrecondition words, a 400).
    with pytest.raises(APIError) as manager_rm:
        a.client.delete(f"/nodes/{node_id}")
    assert manager_rm.value.status == 400
    assert "is a cluster manager and is a member of the raft cluster" in str(manager_rm.value)
    worker_id = next(n["ID"] for n in a.client.get_json("/nodes") if n["Spec"]["Role"] == "worker")
    inspected = a.client.get_json(f"/nodes/{worker_id[:6]}")  # an ID prefix finds it
    assert inspected["ID"] == worker_id and inspected["Status"]["State"] == "down"
    a.client.delete(f"/nodes/{worker_id}")
    assert [n["Spec"]["Role"] for n in a.client.get_json("/nodes")] == ["manager", "manager"]
    with pytest.raises(APIError) as gone:
        a.client.get_json(f"/nodes/{worker_id}")
    assert (gone.value.status, str(gone.value)) == (404, f"node {worker_id} not found")
    filtered = a.client.get_json("/nodes", filters='{"role":["manager"]}')
    assert len(filtered) == 2
    c.client.post("/swarm/leave", force=1)
    assert etcd_processes(str(c.base)) == []
    a.client.post("/swarm/leave", force=1)
    assert etcd_processes(str(a.base)) == []
    assert a.client.ping().headers.get("swarm") == "inactive"


def _lease_ttl(d: PierDaemon, node_id: str) -> int:
    """The TTL etcd granted the node's liveness lease."""
    import asyncio

    from pier.cluster.etcd import Etcd

    socket = next((d.exec_root / "swarm" / "etcd").glob("c-*:1"))

    async def ask() -> int:
        etcd = Etcd(endpoints=[f"unix://{socket}"])
        try:
            alive = await etcd.get(f"/pier/swarm/alive/{node_id}".encode())
            assert alive is not None
            answer = await etcd.call("/v3/lease/timetolive", {"ID": str(alive.lease)})
            return int(answer.get("grantedTTL", 0))
        finally:
            await etcd.close()

    return asyncio.run(ask())
