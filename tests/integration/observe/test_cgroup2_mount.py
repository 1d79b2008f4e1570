"""Pier's cgroup v2 readers and writers on a real cgroup2 hierarchy the test mounts
itself at a temporary directory (this host is v1 "hybrid": the cgroup2 hierarchy
exists but holds no controller, so what is real here is the core of v2: cpu.stat,
cgroup.procs, cgroup.events, nested groups and their removal; the controllers' files
are covered on trees laid out as cgroup-v2.rst documents them, in
tests/unit/runtime/test_cgroupstats.py)."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier.errors import SystemFailure
from pier.runtime import cgroups
from pier.runtime.cgroups import CgroupMode, CgroupMounts

BUSY = ["sh", "-c", "while :; do :; done"]


@pytest.fixture
def v2(tmp_path: Path) -> Iterator[CgroupMounts]:
    """A cgroup2 mount of the test's own, seen as a pure v2 host's (no v1 hierarchy)."""
    mnt = tmp_path / "cgroup2"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "cgroup2", "cgroup2", str(mnt)], check=True)
    try:
        yield CgroupMounts(unified=mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _wait(predicate: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _populated(group: Path) -> bool:
    return "populated 1" in (group / "cgroup.events").read_text()


def test_stats_pids_and_removal_on_a_real_v2_hierarchy(v2: CgroupMounts) -> None:
    assert v2.mode is CgroupMode.V2 and v2.unified is not None
    name = f"pier-v2-{secrets.token_hex(4)}"
    group = v2.unified / name
    inner = group / "inner"
    group.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        inner.mkdir()
        for where in (group, inner):
            proc = subprocess.Popen(BUSY)
            procs.append(proc)
            (where / "cgroup.procs").write_text(str(proc.pid))
        top, nested = (p.pid for p in procs)
        assert (
            Path(f"/proc/{top}/cgroup").read_text().strip().endswith(f"::/{name}")
        )  # what stats_of_pid follows
        _wait(lambda: "usage_usec 0\n" not in (group / "cpu.stat").read_text())

        stats = cgroups.stats_of_pid(top, v2)
        assert stats.cgroup_version == 2
        assert stats.cpu.total_ns > 0 and stats.cpu.total_ns % 1000 == 0  # usec -> ns
        assert stats.cpu.total_ns >= stats.cpu.user_ns
        assert stats.cpu.per_cpu_ns == ()
        # no memory, pids or io controller enabled here: their files are absent
        assert (stats.memory.usage, stats.memory.failcnt) == (0, None)
        assert (stats.pids.current, stats.pids.limit) == (0, None)
        assert stats.io_service_bytes == ()

        assert cgroups.pids_of_pid(top, v2) == sorted([top, nested])  # the subtree's
        assert cgroups.pids_of_pid(nested, v2) == [nested]
        assert cgroups.exists(f"/{name}", v2)
        assert name in cgroups.list_children("/", v2)

        with pytest.raises(SystemFailure, match="cgroups still in use"):
            cgroups.remove(f"/{name}", v2)
        assert group.is_dir()
        for proc in procs:
            proc.kill()
            proc.wait()
        _wait(lambda: not _populated(group))
        cgroups.remove(f"/{name}", v2)
        assert not group.exists() and not cgroups.exists(f"/{name}", v2)
        with pytest.raises(OSError):
            cgroups.stats_of_pid(top, v2)  # the process is gone
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for d in (inner, group):
            if d.exists():
                _wait(lambda d=d: not _populated(d))
                os.rmdir(d)
