"""`pier stats` without names follows the containers as docker's does (its event
handlers in cli/command/container/stats.go): one that starts joins the table, one
that dies leaves it; with -a a created one joins and a stopped one stays. The docker
CLI itself does the same against pierd (it follows pierd's container events)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from pier_testing.api import create
from pier_testing.binaries import PIER
from pier_testing.daemon import PierDaemon


class Screen:
    """The frames a streaming `pier stats` draws (each from cursor-home to the
    clear-below that ends it), read as they come."""

    def __init__(self, pier: PierDaemon, binary: str, *args: str) -> None:
        exe = str(PIER) if binary == "pier" else "/usr/local/bin/docker"
        self.proc = subprocess.Popen(
            [exe, "stats", "--format", "{{.Name}}", *args],
            env=pier.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._seen = b""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while block := self.proc.stdout.read1(4096):  # type: ignore[attr-defined]
            with self._lock:
                self._seen += block

    def last(self) -> list[str] | None:
        with self._lock:
            frames = self._seen.split(b"\033[H")
        done = [f for f in frames if f.endswith(b"\033[J")]
        if not done:
            return None
        # docker 28.2.2 writes each line twice, the second time padded: names only
        lines = done[-1].decode().split("\033[K\n")
        return [line.strip() for line in lines if line.strip() and line != "\033[J"]

    def shows(self, predicate: Callable[[list[str]], bool], timeout: float = 20) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            frame = self.last()
            if frame is not None and predicate(frame):
                return frame
            assert time.monotonic() < deadline, f"last frame: {frame}"
            time.sleep(0.1)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=10)
        self._reader.join(10)


@pytest.fixture(params=["pier", "docker"])
def screen(pier: PierDaemon, request: pytest.FixtureRequest) -> Iterator[Callable[..., Screen]]:
    opened: list[Screen] = []

    def open_(*args: str) -> Screen:
        opened.append(Screen(pier, str(request.param), *args))
        return opened[-1]

    yield open_
    for s in opened:
        s.close()


def _run(pier: PierDaemon, name: str) -> str:
    cid = create(pier.client, ["sleep", "600"], name=name)
    pier.client.post(f"/containers/{cid}/start")
    return cid


def test_running_containers_come_and_go(pier: PierDaemon, screen: Callable[..., Screen]) -> None:
    _run(pier, "first")
    create(pier.client, ["true"], name="created")
    s = screen()
    assert s.shows(lambda f: f == ["first"]) == ["first"]
    _run(pier, "second")
    s.shows(lambda f: f == ["first", "second"])
    pier.client.post("/containers/first/stop", t=0)
    s.shows(lambda f: f == ["second"])
    pier.client.post("/containers/second/stop", t=0)
    s.shows(lambda f: f == [])  # an empty table, still followed
    _run(pier, "third")
    s.shows(lambda f: f == ["third"])
    assert s.proc.poll() is None


def test_all_keeps_stopped_ones_and_takes_created_ones(
    pier: PierDaemon, screen: Callable[..., Screen]
) -> None:
    _run(pier, "up")
    create(pier.client, ["true"], name="made")
    s = screen("-a")
    s.shows(lambda f: sorted(f) == ["made", "up"])
    pier.client.post("/containers/up/stop", t=0)
    create(pier.client, ["true"], name="later")
    s.shows(lambda f: sorted(f) == ["later", "made", "up"])
