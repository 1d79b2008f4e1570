"""daemon.json `cluster-store`: every node is a client of an etcd cluster that already
runs (here one member started by the test); no node starts a member of its own, not
even once promoted."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_fixtures import etcd_processes, short_dir
from swarmnodes import free_port, import_busybox, leave, running_tasks, until

from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope

pytestmark = pytest.mark.slow


@pytest.fixture
def store() -> Iterator[str]:
    """One etcd member, started as an operator would (not by any pierd)."""
    for base in short_dir():
        proc = subprocess.Popen(
            [
                "etcd", "--name", "ext", "--data-dir", str(base / "data"),
                "--listen-client-urls", "unix://c:1", "--advertise-client-urls", "unix://c:1",
                "--listen-peer-urls", "unix://p:1", "--initial-advertise-peer-urls", "unix://p:1",
                "--initial-cluster", "ext=unix://p:1", "--log-level", "error",
            ],
            cwd=base,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            until(lambda base=base: (base / "c:1").exists(), 20, "etcd's socket")
            yield f"unix://{base / 'c:1'}"
        finally:
            proc.terminate()
            proc.wait(10)


def test_nodes_share_a_configured_cluster_store(
    store: str, leak_scope: Scope, busybox_tar: Path
) -> None:
    daemons = [PierDaemon(leak_scope), PierDaemon(leak_scope)]
    try:
        for d in daemons:
            config = json.loads(d.config_file.read_text())
            d.config_file.write_text(json.dumps({**config, "cluster-store": store}))
            d.start()
            import_busybox(d, busybox_tar)
        a, b = daemons
        port = free_port()
        a.client.post_json("/swarm/init", {"ListenAddr": f"127.0.0.1:{port}"})
        token = a.client.get_json("/swarm")["JoinTokens"]["Manager"]
        b.client.post_json(
            "/swarm/join",
            {
                "ListenAddr": f"127.0.0.1:{free_port()}",
                "RemoteAddrs": [f"127.0.0.1:{port}"],
                "JoinToken": token,
            },
        )
        assert etcd_processes(str(a.base)) == [] and etcd_processes(str(b.base)) == []
        assert len(b.client.get_json("/nodes")) == 2  # b is a manager too
        b.client.post_json(
            "/services/create",
            {
                "Name": "ext",
                "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["top"]}},
                "Mode": {"Replicated": {"Replicas": 2}},
            },
        )
        until(lambda: len(running_tasks(a, "ext")) == 2, 30, "two tasks")
        a.client.delete("/services/ext")
        until(lambda: not a.client.get_json("/tasks"), 30, "tasks gone")

        # Roles change with no member to add or remove: only the node's standing.
        b_id = b.client.get_json("/info")["Swarm"]["NodeID"]
        for role, manager in (("worker", False), ("manager", True)):
            node = a.client.get_json(f"/nodes/{b_id}")
            a.client.post_json(
                f"/nodes/{b_id}/update",
                {**node["Spec"], "Role": role},
                version=node["Version"]["Index"],
            )
            until(
                lambda manager=manager: (
                    b.client.get_json("/info")["Swarm"]["ControlAvailable"] is manager
                ),
                30,
                f"b a {role}",
            )
            assert etcd_processes(str(b.base)) == []
        assert len(b.client.get_json("/nodes")) == 2
    finally:
        for d in daemons:
            if d.proc is not None:
                leave(d)
        for d in daemons:
            d.destroy()
