"""The host's processes as /proc lists them, for tests that find a daemon's helpers
(conmon, etcd) by their command lines."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def cmdlines() -> Iterator[tuple[int, bytes]]:
    """(pid, raw /proc/<pid>/cmdline) of every process still there when read."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue  # it ended meanwhile
        yield int(entry), cmdline


def mentioning(marker: str) -> list[int]:
    """The pids whose command line contains `marker`."""
    return [pid for pid, line in cmdlines() if marker.encode() in line]


def conmon_of(cid: str) -> int:
    """The pid of the conmon monitoring container `cid`."""
    for pid, line in cmdlines():
        argv = line.split(b"\0")
        if argv[0].endswith(b"conmon") and cid.encode() in argv:
            return pid
    raise AssertionError(f"no conmon for {cid}")
