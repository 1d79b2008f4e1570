"""Undo everything the benchmark made, in reverse order, also on SIGINT and SIGTERM."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from .proc import all_pids, cmdline


def _log(message: str) -> None:
    print(f"[cleanup] {message}", file=sys.stderr, flush=True)


class Cleanup:
    """A LIFO stack of undo actions; each runs once, failures are reported and skipped."""

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], None]]] = []
        self._closed = False

    def push(self, description: str, action: Callable[[], None]) -> None:
        self._actions.append((description, action))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # A second Ctrl-C during cleanup would leave mounts behind: ignore it until done.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            while self._actions:
                description, action = self._actions.pop()
                try:
                    action()
                except Exception as exc:
                    _log(f"{description}: {exc}")
        finally:
            signal.signal(signal.SIGINT, previous)

    def install(self) -> None:
        """Turn SIGTERM/SIGHUP into SystemExit so `finally` blocks run; atexit as a backstop."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        # Started in the background by a script, SIGINT arrives ignored: take it back.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGHUP, on_signal)
        atexit.register(self.close)


def kill_mentioning(path: str, *, grace: float = 5.0) -> None:
    """Stop every process whose command line names `path` (daemons, shims, monitors)."""
    me = os.getpid()
    victims = [p for p in all_pids() if p != me and path in cmdline(p)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            victims = [p for p in victims if Path(f"/proc/{p}").exists() and _alive(p)]
            if not victims:
                return
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def mounts_under(path: str) -> list[str]:
    prefix = path.rstrip("/") + "/"
    points: list[str] = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if point == path or point.startswith(prefix):
                points.append(point)
    return points


def unmount_under(path: str) -> None:
    """Deepest first; lazily if busy, so that the directory can go."""
    for _ in range(3):
        points = sorted(set(mounts_under(path)), key=lambda p: p.count("/"), reverse=True)
        if not points:
            return
        for point in points:
            if subprocess.run(["umount", point], capture_output=True, check=False).returncode:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
