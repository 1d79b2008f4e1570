"""Real terminals driving the `pier` and `docker` CLIs against the module's pierd.

`spawn` starts a CLI on a fresh pty; every terminal it made is closed (its process
group killed) before the `pier` fixture removes the test's containers, detached ones
included, and before the leak check looks for leftovers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pier_testing.api import inspect, wait_for
from pier_testing.binaries import PIER
from pier_testing.daemon import PierDaemon
from pier_testing.terminal import Terminal

DOCKER = Path("/usr/local/bin/docker")


@dataclass(frozen=True)
class CLI:
    """How to run one of the two CLIs against the test's daemon."""

    name: str
    argv: tuple[str, ...]

    def __call__(self, *args: str) -> list[str]:
        return [*self.argv, *args]


Spawn = Callable[..., Terminal]


@pytest.fixture(params=["pier", "docker"])
def cli(request: pytest.FixtureRequest, pier: PierDaemon) -> CLI:
    if request.param == "pier":
        return CLI("pier", (str(PIER), "-H", pier.host))
    return CLI("docker", (str(DOCKER),))


@pytest.fixture
def spawn(pier: PierDaemon) -> Iterator[Spawn]:
    """`spawn(argv, rows=24, cols=80)`: `argv` on a new pty, with the daemon's env."""
    made: list[Terminal] = []
    env = {**pier.env(), "TERM": "xterm"}

    def start(argv: list[str], *, rows: int = 24, cols: int = 80) -> Terminal:
        term = Terminal(argv, env=env, rows=rows, cols=cols)
        made.append(term)
        return term

    yield start
    for term in made:
        term.close()
    left = [(term.argv, pids) for term in made if (pids := term.survivors())]
    assert not left, f"processes outlived their terminal: {left}"


class Containers:
    """What the tests ask the daemon and the host about their containers."""

    def __init__(self, daemon: PierDaemon) -> None:
        self._client = daemon.client

    def names(self) -> list[str]:
        found = self._client.get_json("/containers/json", all=1)
        return [n.lstrip("/") for c in found for n in c["Names"]]

    def running(self, name: str) -> bool:
        return bool(inspect(self._client, name)["State"]["Running"])

    def wait_running(self, name: str) -> int:
        """The host pid of the container's first process, once it runs."""
        wait_for(lambda: name in self.names() and self.running(name), timeout=30)
        return int(inspect(self._client, name)["State"]["Pid"])

    def wait_for_child(self, pid: int, cmdline: str) -> None:
        """Until `pid` has a child that has exec'd `cmdline`, so that a signal sent now
        reaches that program and not the shell that forks it."""
        wait_for(lambda: cmdline in _children(pid), timeout=15)


@pytest.fixture
def containers(pier: PierDaemon) -> Containers:
    return Containers(pier)


def _children(pid: int) -> list[str]:
    """The command lines (argv joined by spaces) of the live children of host `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        # The command name in parentheses may hold spaces: the ppid follows its ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(cmdline.rstrip(b"\0").replace(b"\0", b" ").decode())
    return found
