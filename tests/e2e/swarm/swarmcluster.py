"""A swarm of three pierd nodes made by scripts/cluster (each in a network namespace
of its own with an address on a test bridge), driven from the root namespace: the
docker CLI and Pier's client per node, polling with a deadline, etcd's processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pier.client.api import Client
from pier.cluster.etcd import Etcd
from pier.errors import PierError
from pier_testing.leaks import Scope
from pier_testing.netpool import claim_subnet, release_subnet
from pier_testing.polling import until as until  # the e2e swarm tests import it from here
from pier_testing.procs import cmdlines

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "cluster"
DOCKER = "/usr/local/bin/docker"


class Cluster:
    def __init__(self, scope: Scope, *, managers: int = 3) -> None:
        tag = secrets.token_hex(3)
        self.dir = Path(f"/tmp/pcl-{tag}")
        self.name = f"c{tag}"
        self.subnet = claim_subnet(str(self.dir))
        self.net = f"10.{self.subnet}.0"
        self.env = {
            **os.environ,
            "PIER_CLUSTER_DIR": str(self.dir),
            "PIER_CLUSTER_NAME": self.name,
            "PIER_CLUSTER_NET": self.net,
            "DOCKER": DOCKER,
            "PIER_CLUSTER_MANAGERS": str(managers),
        }
        scope.roots.add(f"{self.dir}/")
        for i in (1, 2, 3):
            scope.cgroup_parents.add(f"/pier-{self.name}-node{i}")

    def script(self, *args: str, timeout: float = 300) -> str:
        out = subprocess.run(
            [str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def addr(self, i: int) -> str:
        return f"{self.net}.{10 + i}"

    def socket(self, i: int) -> str:
        return str(self.dir / f"node{i}" / "pier.sock")

    def docker(self, i: int, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "DOCKER_HOST": f"unix://{self.socket(i)}"}
        env["DOCKER_CONFIG"] = str(self.dir / "docker-config")
        return subprocess.run(
            [DOCKER, *args], env=env, capture_output=True, text=True, timeout=timeout
        )

    def client(self, i: int) -> Client:
        return Client(self.socket(i), timeout=30)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return str(resp.read().decode().strip())


@contextlib.contextmanager
def cluster_up(leak_scope: Scope, *, managers: int = 3) -> Iterator[Cluster]:
    c = Cluster(leak_scope, managers=managers)
    try:
        c.script("up")
        yield c
    finally:
        c.script("down")
        release_subnet(c.subnet)
        left = {r for r in leak_scope.snapshot() if str(c.dir) in r}
        assert not left, f"the cluster left behind: {sorted(left)}"


def running(c: Cluster, service: str, node: int = 1) -> list[dict[str, Any]]:
    tasks = c.client(node).get_json(
        "/tasks", filters=json.dumps({"service": [service], "desired-state": ["running"]})
    )
    return [t for t in tasks if t["Status"]["State"] == "running"]


def etcd_pids(cluster: Cluster) -> dict[str, int]:
    found = {}
    for pid, cmdline in cmdlines():
        argv = cmdline.split(b"\0")
        if argv[0].endswith(b"etcd") and str(cluster.dir).encode() in b" ".join(argv):
            found[argv[argv.index(b"--name") + 1].decode()] = pid
    return found


def etcd_leader_pid(cluster: Cluster, pids: dict[str, int]) -> int:
    sockets = [f"unix://{p}" for p in cluster.dir.glob("node*/run/swarm/etcd/c-*:1")]

    async def ask() -> int:
        etcd = Etcd(endpoints=sockets)
        try:
            status = await etcd.status()
            names = {m.id: m.name for m in await etcd.members()}
            return pids[names[int(status["leader"])]]
        finally:
            await etcd.close()

    return asyncio.run(ask())


def etcd_started(cluster: Cluster, name: str) -> bool:
    """Every member answers on its own client socket (no failover to another), all
    agree on a leader, and member `name` is a started voting member of the cluster
    (named, with client URLs) whose status comes from that member itself."""
    sockets = {
        p.name[len("c-") : -len(":1")]: f"unix://{p}"
        for p in cluster.dir.glob("node*/run/swarm/etcd/c-*:1")
    }

    async def ask() -> bool:
        statuses: dict[str, dict[str, Any]] = {}
        members = ()
        for member, endpoint in sockets.items():
            etcd = Etcd(endpoints=[endpoint], timeout=2)
            try:
                statuses[member] = await etcd.status()
                if member == name:
                    members = await etcd.members()
            except PierError:
                return False
            finally:
                await etcd.close()
        leaders = {int(s.get("leader") or 0) for s in statuses.values()}
        own = next((m for m in members if m.name == name), None)
        return (
            len(statuses) == 3
            and len(leaders) == 1
            and 0 not in leaders
            and own is not None
            and bool(own.client_urls)
            and not own.learner
            and int(statuses[name]["header"]["member_id"]) == own.id
        )

    return asyncio.run(ask())


def etcd_members(cluster: Cluster) -> set[str]:
    """The names of etcd's members (node IDs), asked of whichever member answers."""
    sockets = [f"unix://{p}" for p in cluster.dir.glob("node*/run/swarm/etcd/c-*:1")]

    async def ask() -> set[str]:
        etcd = Etcd(endpoints=sockets)
        try:
            return {m.name for m in await etcd.members()}
        finally:
            await etcd.close()

    return asyncio.run(ask())


def node_id(cluster: Cluster, i: int) -> str:
    return str(cluster.client(i).get_json("/info")["Swarm"]["NodeID"])
