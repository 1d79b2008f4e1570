"""SIGTERM stops pierd in under 2 s whatever clients wait on (a /wait the docker CLI
left behind, `docker wait`, `docker events`, `docker logs -f`, an attached client,
an exec attached), the containers keep running, and clients that leave are logged at
debug only."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from pier_testing.api import wait_for
from pier_testing.daemon import PierDaemon
from pier_testing.session import Session

pytestmark = pytest.mark.docker_cli


def _docker(pier: PierDaemon, *args: str) -> str:
    out = subprocess.run(
        ["docker", *args], env=pier.env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _loud_lines(log: str) -> list[str]:
    """Log lines above debug, and tracebacks."""
    return [
        line
        for line in log.splitlines()
        if " WARNING " in line or " ERROR " in line or "Traceback" in line
    ]


@pytest.fixture
def clients() -> Iterator[list[Session]]:
    sessions: list[Session] = []
    yield sessions
    for s in sessions:
        s.kill()


def test_sigterm_with_pending_streams_stops_within_2s(
    pier: PierDaemon, clients: list[Session]
) -> None:
    env = pier.env()
    log_start = pier.log.stat().st_size
    # `run -d` leaves a /wait behind whose client has gone
    sleeper = _docker(pier, "run", "-d", "busybox", "sleep", "1000")
    talker = _docker(
        pier, "run", "-d", "-i", "busybox", "sh", "-c", "while read l; do echo got $l; done"
    )
    pids = [
        pier.client.get_json(f"/containers/{c}/json")["State"]["Pid"] for c in (sleeper, talker)
    ]
    for argv, stdin in [
        (["docker", "wait", sleeper], False),
        (["docker", "events"], False),
        (["docker", "logs", "-f", talker], False),
        (["docker", "attach", talker], True),
        (["docker", "exec", "-i", sleeper, "cat"], True),
    ]:
        clients.append(Session(argv, env, stdin=stdin))
    clients[3].write(b"hello\n")
    clients[3].read_until(b"got hello")
    clients[2].read_until(b"got hello")  # logs -f is following
    clients[4].write(b"from exec\n")
    clients[4].read_until(b"from exec")
    _docker(pier, "pause", sleeper)
    _docker(pier, "unpause", sleeper)
    clients[1].read_until(b"unpause")  # events is streaming

    started = time.monotonic()
    assert pier.stop() == 0
    took = time.monotonic() - started
    assert took < 2.0, f"SIGTERM took {took:.2f} s"
    for pid in pids:
        assert os.path.exists(f"/proc/{pid}"), "a container died with pierd"
    # every client ends once its daemon is gone
    for s in clients:
        s.proc.wait(10)
    log = _log_since(pier, log_start)
    assert "stopped in" in log
    assert _loud_lines(log) == []

    pier.start()
    for cid in (sleeper, talker):
        assert pier.client.get_json(f"/containers/{cid}/json")["State"]["Running"] is True


def _log_since(pier: PierDaemon, offset: int) -> str:
    with open(pier.log, "rb") as fh:
        fh.seek(offset)
        return fh.read().decode(errors="replace")


def test_departed_clients_are_logged_at_debug_only(pier: PierDaemon) -> None:
    before = pier.log.stat().st_size
    # The CLI's /wait of a `run -d` is answered after its client has gone; so are a
    # `docker wait` and a `logs -f` whose clients are killed while the container runs.
    cid = _docker(pier, "run", "-d", "busybox", "sh", "-c", "echo up; sleep 1")
    for argv in (["docker", "wait", cid], ["docker", "logs", "-f", cid]):
        s = Session(argv, pier.env(), stdin=False)
        if argv[1] == "logs":
            s.read_until(b"up")
        s.kill()
    wait_for(lambda: not pier.client.get_json(f"/containers/{cid}/json")["State"]["Running"])
    wait_for(lambda: _log_since(pier, before).count("client went away") >= 2)
    assert _loud_lines(_log_since(pier, before)) == []
