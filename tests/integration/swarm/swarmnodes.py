"""Several pierds on this machine forming a swarm over loopback: each with its own
roots, socket and cluster port; etcd members on UNIX sockets under their exec roots."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pier.client.errors import ClientError
from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(check: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (ClientError, OSError, KeyError, IndexError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what} (last: {last!r})")


def import_busybox(daemon: PierDaemon, tar: Path) -> None:
    with open(tar, "rb") as fh:
        daemon.client.request(
            "POST",
            "/images/create",
            params={"fromSrc": "-", "repo": "busybox", "tag": "latest"},
            body=fh.read(),
            headers={"Content-Type": "application/x-tar"},
        ).read()


def leave(daemon: PierDaemon) -> None:
    with contextlib.suppress(ClientError, OSError):
        daemon.client.request("POST", "/swarm/leave", params={"force": "1"}).read()


@contextlib.contextmanager
def nodes(scope: Scope, busybox_tar: Path, n: int) -> Iterator[list[PierDaemon]]:
    daemons: list[PierDaemon] = []
    try:
        for _ in range(n):
            d = PierDaemon(scope)
            daemons.append(d)
            d.start()
            import_busybox(d, busybox_tar)
        yield daemons
    finally:
        for d in reversed(daemons):
            if d.proc is not None:
                leave(d)
        for d in daemons:
            d.destroy()
        left = {r for r in scope.snapshot() for d in daemons if str(d.base) in r}
        assert not left, f"the swarm left behind: {sorted(left)}"
