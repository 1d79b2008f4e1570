"""`pier network ...` and `pier port` print what docker prints for the same daemon."""

from __future__ import annotations

import subprocess

from pier_testing.binaries import PIER
from pier_testing.daemon import PierDaemon
from pier_testing.netcli import Docker


def _pier(daemon: PierDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PIER), "-H", daemon.host, *args], capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_pier_network_commands_match_docker(docker: Docker, pier: PierDaemon) -> None:
    made = _pier(pier, "network", "create", "--label", "x=1", "clinet")
    assert made.returncode == 0 and len(made.stdout.strip()) == 64
    for args in (
        ("network", "ls"),
        ("network", "ls", "-q", "--filter", "label=x=1"),
        ("network", "ls", "--no-trunc", "--format", "{{.Name}} {{.ID}} {{.Labels}}"),
        ("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Internal}}", "clinet"),
    ):
        assert _pier(pier, *args).stdout == docker.ok(*args), args
    docker.ok("run", "-d", "--name", "p1", "-p", "127.0.0.1::80", "-p", "9090/udp",
              "busybox", "sleep", "60")  # fmt: skip
    assert _pier(pier, "network", "connect", "--alias", "al", "clinet", "p1").returncode == 0
    assert _pier(pier, "port", "p1").stdout == docker.ok("port", "p1")
    assert _pier(pier, "port", "p1", "80").stdout == docker.ok("port", "p1", "80")
    missing = _pier(pier, "port", "p1", "81")
    assert missing.returncode == 1
    assert missing.stderr == docker("port", "p1", "81").stderr
    dup = _pier(pier, "network", "create", "clinet")
    assert dup.returncode == 1
    assert dup.stderr.strip() == docker("network", "create", "clinet").stderr.strip()
    assert _pier(pier, "network", "disconnect", "clinet", "p1").returncode == 0
    assert _pier(pier, "network", "rm", "clinet").stdout == "clinet\n"
    gone = _pier(pier, "network", "rm", "clinet")
    assert gone.returncode == 1 and gone.stderr == docker("network", "rm", "clinet").stderr
