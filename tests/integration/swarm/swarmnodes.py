"""Several pierds on this machine forming a swarm over loopback: each with its own
roots, socket and cluster port; etcd members on UNIX sockets under their exec roots."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pier.client.errors import ClientError
from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope
from pier_testing.polling import until as until  # the swarm tests import it from here
from pier_testing.ports import free_port
from pier_testing.procs import cmdlines

DOCKER = "/usr/local/bin/docker"


def import_busybox(daemon: PierDaemon, tar: Path) -> None:
    with open(tar, "rb") as fh:
        daemon.client.request(
            "POST",
            "/images/create",
            params={"fromSrc": "-", "repo": "busybox", "tag": "latest"},
            body=fh.read(),
            headers={"Content-Type": "application/x-tar"},
        ).read()


def configure(daemon: PierDaemon, extra: Mapping[str, Any]) -> None:
    """Keys added to the daemon's daemon.json, read at its next start."""
    config = json.loads(daemon.config_file.read_text())
    daemon.config_file.write_text(json.dumps({**config, **extra}))


def leave(daemon: PierDaemon) -> None:
    with contextlib.suppress(ClientError, OSError):
        daemon.client.request("POST", "/swarm/leave", params={"force": "1"}).read()


@contextlib.contextmanager
def nodes(
    scope: Scope, busybox_tar: Path, n: int, *, configs: Sequence[Mapping[str, Any]] = ()
) -> Iterator[list[PierDaemon]]:
    """`n` pierds; `configs[i]`, if given, adds to daemon i's daemon.json."""
    daemons: list[PierDaemon] = []
    try:
        for i in range(n):
            d = PierDaemon(scope)
            daemons.append(d)
            if i < len(configs):
                configure(d, configs[i])
            d.start()
            import_busybox(d, busybox_tar)
        yield daemons
    finally:
        for d in reversed(daemons):
            if d.proc is not None:
                leave(d)
        logs = {}
        for d in daemons:
            logs[str(d.base)] = d.log_text()[-3000:]
            d.destroy()
        left = {r for r in scope.snapshot() for d in daemons if str(d.base) in r}
        owners = {b: text for b, text in logs.items() if any(b in r for r in left)}
        assert not left, f"the swarm left behind: {sorted(left)}; logs: {owners}"


def swarm_of(daemons: list[PierDaemon], managers: int = 1) -> str:
    """Init on the first daemon, join the next `managers - 1` as managers and the rest
    as workers; the first's cluster address."""
    port = free_port()
    first = daemons[0]
    first.client.post_json("/swarm/init", {"ListenAddr": f"127.0.0.1:{port}"})
    tokens = first.client.get_json("/swarm")["JoinTokens"]
    for i, d in enumerate(daemons[1:], start=1):
        mine = free_port()
        d.client.post_json(
            "/swarm/join",
            {
                "ListenAddr": f"127.0.0.1:{mine}",
                "RemoteAddrs": [f"127.0.0.1:{port}"],
                "JoinToken": tokens["Manager" if i < managers else "Worker"],
            },
        )
    return f"127.0.0.1:{port}"


def node_id(daemon: PierDaemon) -> str:
    return str(daemon.client.get_json("/info")["Swarm"]["NodeID"])


def docker(d: PierDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    """The docker CLI against one node."""
    return subprocess.run([DOCKER, *args], env=d.env(), capture_output=True, text=True, timeout=60)


def create_service(d: PierDaemon, name: str, *flags: str) -> None:
    """`docker service create -d` of busybox running top."""
    out = docker(d, "service", "create", "-d", "--name", name, *flags, "busybox", "top")
    assert out.returncode == 0, out.stderr


def running_tasks(manager: PierDaemon, service: str) -> list[dict[str, Any]]:
    tasks = manager.client.get_json(
        "/tasks", filters=json.dumps({"service": [service], "desired-state": ["running"]})
    )
    return [t for t in tasks if t["Status"]["State"] == "running"]


def task_containers(daemon: PierDaemon, *, running: bool = False) -> dict[str, dict[str, Any]]:
    """The daemon's containers of swarm tasks (only running ones if asked), by task ID."""
    found = {}
    for c in daemon.client.get_json("/containers/json", all=0 if running else 1):
        task = (c.get("Labels") or {}).get("com.docker.swarm.task.id")
        if task:
            found[task] = c
    return found


def kill_node(daemon: PierDaemon) -> None:
    """A node dies: pierd and every container monitor and process under its roots."""
    daemon.kill9()
    marker = str(daemon.base).encode()
    for _ in range(3):
        for procs in Path("/sys/fs/cgroup/pids", daemon.cgroup_parent.strip("/")).glob(
            "*/cgroup.procs"
        ):
            for pid in procs.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        for found, cmdline in cmdlines():
            if marker in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(found, signal.SIGKILL)
        time.sleep(0.1)
