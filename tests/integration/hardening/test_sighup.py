"""SIGHUP at any time leaves pierd running: sent as soon as the pid file names pierd
(before its loop takes the signal over, while it restores) it is ignored with a warning,
and a reload from a file without `log-level` keeps the level pierd was started with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import IO

import pytest

from pier_testing.custom import CustomDaemon, running
from pier_testing.leaks import Scope


class HupAtStart(CustomDaemon):
    """SIGHUP pierd once its pid file names it, before it answers."""

    def spawn(self, argv: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        proc = super().spawn(argv, log)
        pidfile = self.exec_root / "pierd.pid"
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text().strip() == str(proc.pid)):
            assert proc.poll() is None, self.log_text()
            assert time.monotonic() < deadline, self.log_text()
            time.sleep(0.001)  # polling the file: pierd gives no other sign this early
        os.kill(proc.pid, signal.SIGHUP)
        return proc


@pytest.fixture
def daemon(leak_scope: Scope) -> Iterator[HupAtStart]:
    d = HupAtStart(leak_scope, flags=[])  # started with --log-level debug, a file without one
    with running(d, leak_scope):
        yield d


def test_sighup_while_starting_is_ignored(daemon: HupAtStart) -> None:
    assert daemon.proc is not None and daemon.proc.poll() is None
    assert daemon.client.ping().status == 200
    assert "SIGHUP ignored: pierd is not serving yet" in daemon.log_text()


def test_reload_without_log_level_keeps_the_started_one(daemon: HupAtStart) -> None:
    assert "log-level" not in json.loads(daemon.config_file.read_text())
    since = time.time()
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGHUP)
    params = {
        "since": f"{since:.6f}",
        "filters": json.dumps({"type": ["daemon"], "event": ["reload"]}),
    }
    deadline = time.monotonic() + 30
    while True:
        until = {"until": f"{time.time() + 1:.6f}"}
        resp = daemon.client.request("GET", "/events", params={**params, **until})
        found = [json.loads(line) for line in resp.read().decode().splitlines()]
        if found:
            break
        assert time.monotonic() < deadline, daemon.log_text()
    assert found[0]["Actor"]["Attributes"]["debug"] == "true"
