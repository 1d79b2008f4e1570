"""Failover on three managers sharing loopback: a node that dies (pierd, its
containers, its etcd member) has its tasks running elsewhere within 10 s and, back,
shuts its stale tasks down; a node whose lease is lost fences itself; killing etcd's
leader member loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_fixtures import etcd_processes
from swarmnodes import kill_node, node_id, nodes, running_tasks, swarm_of, task_containers, until

from pier.cluster.etcd import Etcd
from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def managers(leak_scope: Scope, busybox_tar: Path) -> Iterator[list[PierDaemon]]:
    with nodes(leak_scope, busybox_tar, 3) as daemons:
        swarm_of(daemons, managers=3)
        yield daemons


def _create(manager: PierDaemon, name: str, replicas: int) -> None:
    manager.client.post_json(
        "/services/create",
        {
            "Name": name,
            "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["top"]}},
            "Mode": {"Replicated": {"Replicas": replicas}},
        },
    )
    until(lambda: len(running_tasks(manager, name)) == replicas, 60, f"{name} running")


def _leader(daemons: list[PierDaemon]) -> PierDaemon:
    ids = {node_id(d): d for d in daemons}
    nodes_seen = daemons[0].client.get_json("/nodes")
    return next(ids[n["ID"]] for n in nodes_seen if n.get("ManagerStatus", {}).get("Leader"))


def test_a_dead_node_is_replaced_within_10_s_and_shuts_its_stale_tasks_down(
    managers: list[PierDaemon],
) -> None:
    leader = _leader(managers)
    victim = next(d for d in managers if d is not leader)
    _create(leader, "fo", 6)
    lost = {t["ID"] for t in running_tasks(leader, "fo") if t["NodeID"] == node_id(victim)}
    assert lost  # spread puts some there
    victim_id = node_id(victim)

    kill_node(victim)
    started = time.monotonic()
    until(
        lambda: len([t for t in running_tasks(leader, "fo") if t["NodeID"] != victim_id]) == 6,
        10,
        "six tasks running on the two live nodes",
    )
    took = time.monotonic() - started
    assert took < 10
    down = until(
        lambda: (
            next(n for n in leader.client.get_json("/nodes") if n["ID"] == victim_id)["Status"][
                "State"
            ]
            == "down"
        )
    )
    assert down

    victim.start()  # it comes back: its stale tasks are shut down, not run twice
    until(
        lambda: (
            next(n for n in leader.client.get_json("/nodes") if n["ID"] == victim_id)["Status"][
                "State"
            ]
            == "ready"
        ),
        30,
        "the node back",
    )
    until(lambda: not (set(task_containers(victim, running=True)) & lost), 30, "stale ones stopped")
    stale = [leader.client.get_json(f"/tasks/{t}") for t in lost]
    assert all(t["DesiredState"] == "shutdown" for t in stale)
    until(
        lambda: all(
            leader.client.get_json(f"/tasks/{t}")["Status"]["State"] != "running" for t in lost
        ),
        30,
        "stale tasks no longer reported running",
    )
    assert len(running_tasks(leader, "fo")) == 6
    leader.client.delete("/services/fo")
    for d in managers:
        until(lambda d=d: not task_containers(d), 30, "containers removed")


def test_a_node_that_loses_its_lease_fences_its_tasks(managers: list[PierDaemon]) -> None:
    leader = _leader(managers)
    victim = next(d for d in managers if d is not leader)
    _create(leader, "fence", 3)
    victim_id = node_id(victim)
    mine = {t["ID"] for t in running_tasks(leader, "fence") if t["NodeID"] == victim_id}
    assert mine
    assert set(task_containers(victim)) >= mine

    # The store forgets the node's lease (as after a partition longer than its TTL).
    endpoint = f"unix://{next((victim.exec_root / 'swarm' / 'etcd').glob('c-*:1'))}"

    async def revoke() -> None:
        etcd = Etcd(endpoints=[endpoint])
        try:
            alive = await etcd.get(f"/pier/swarm/alive/{victim_id}".encode())
            assert alive is not None and alive.lease
            await etcd.revoke(alive.lease)
        finally:
            await etcd.close()

    asyncio.run(revoke())
    until(
        lambda: not (set(task_containers(victim, running=True)) & mine), 15, "fenced tasks stopped"
    )
    until(
        lambda: len([t for t in running_tasks(leader, "fence") if t["ID"] not in mine]) == 3,
        15,
        "three fresh tasks",
    )
    # Fenced, it took a new lease and is ready again.
    until(
        lambda: (
            next(n for n in leader.client.get_json("/nodes") if n["ID"] == victim_id)["Status"][
                "State"
            ]
            == "ready"
        ),
        15,
    )
    leader.client.delete("/services/fence")
    for d in managers:
        until(lambda d=d: not task_containers(d), 30, "containers removed")


def test_killing_the_etcd_leader_loses_no_service_or_task(managers: list[PierDaemon]) -> None:
    manager = managers[0]
    _create(manager, "kept", 3)
    before = {t["ID"] for t in running_tasks(manager, "kept")}
    endpoints = [f"unix://{next((d.exec_root / 'swarm' / 'etcd').glob('c-*:1'))}" for d in managers]

    async def leader_pid() -> int:
        etcd = Etcd(endpoints=endpoints)
        try:
            status = await etcd.status()
            members = {m.id: m.name for m in await etcd.members()}
            return _pid_of(members[int(status["leader"])], managers)
        finally:
            await etcd.close()

    os.kill(asyncio.run(leader_pid()), signal.SIGKILL)
    # The store answers again (another member leads) and nothing was lost.
    service = until(lambda: manager.client.get_json("/services/kept"), 20, "the service")
    assert service["Spec"]["Name"] == "kept"
    until(lambda: {t["ID"] for t in running_tasks(manager, "kept")} == before, 20, "same tasks")
    # The supervised member is started again by its pierd.
    until(lambda: all(etcd_processes(str(d.base)) for d in managers), 20, "three members")
    # ... and it stays up (a restart over its old socket files would exit at once).
    until(lambda: _healthy_members(managers) == 3, 20, "three members answering")
    manager.client.delete("/services/kept")
    for d in managers:
        until(lambda d=d: not task_containers(d), 30, "containers removed")


def _pid_of(member: str, daemons: list[PierDaemon]) -> int:
    for d in daemons:
        if (d.exec_root / "swarm" / "etcd" / f"c-{member}:1").exists():
            return etcd_processes(str(d.base))[0]
    raise AssertionError(f"no member {member}")


def _healthy_members(daemons: list[PierDaemon]) -> int:
    """Members whose own client socket answers a status request."""

    async def count() -> int:
        n = 0
        for d in daemons:
            sockets = list((d.exec_root / "swarm" / "etcd").glob("c-*:1"))
            if not sockets:
                continue
            etcd = Etcd(endpoints=[f"unix://{sockets[0]}"], timeout=2)
            try:
                await etcd.status()
                n += 1
            except Exception:
                pass
            finally:
                await etcd.close()
        return n

    return asyncio.run(count())
