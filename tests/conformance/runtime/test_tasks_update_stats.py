"""Tasks beyond the life cycle, on real conmon + crun and runc: `update` applies new
limits to a running container (read back from its cgroup files), `stats` reads its
cgroup, `open_attach` connects to its stdio."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pier.errors import Conflict
from pier.runtime import cgroups
from pier.runtime.cgroupstats import parse_proc_cgroup
from pier.runtime.resources import Resources

if TYPE_CHECKING:
    from conftest import Harness

MIB = 1 << 20


def _cgroup_file(pid: int, controller: str, name: str) -> Path:
    """A file of the process's cgroup, read the way an administrator would."""
    own = parse_proc_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    mounts = cgroups.read_mounts()
    if mounts.mode is cgroups.CgroupMode.V2:
        assert mounts.unified is not None
        return mounts.unified / own[""].lstrip("/") / name
    return mounts.v1[controller] / own[controller].lstrip("/") / name


def _v2() -> bool:
    return cgroups.detect_mode() is cgroups.CgroupMode.V2


def test_update_memory_and_pids(harness: Harness) -> None:
    async def go() -> None:
        cid = await harness.running(("sleep", "100"))
        pid = harness.driver.container_pid(cid)
        assert pid is not None
        mem_file = "memory.max" if _v2() else "memory.limit_in_bytes"
        before = _cgroup_file(pid, "memory", mem_file).read_text().strip()
        assert before != str(64 * MIB)
        await harness.driver.update(cid, harness.runtime, Resources(memory=64 * MIB, pids_limit=32))
        assert _cgroup_file(pid, "memory", mem_file).read_text().strip() == str(64 * MIB)
        assert _cgroup_file(pid, "pids", "pids.max").read_text().strip() == "32"
        # What is not given keeps its value.
        await harness.driver.update(cid, harness.runtime, Resources(pids_limit=16))
        assert _cgroup_file(pid, "memory", mem_file).read_text().strip() == str(64 * MIB)
        assert _cgroup_file(pid, "pids", "pids.max").read_text().strip() == "16"
        await harness.driver.update(cid, harness.runtime, Resources(pids_limit=-1))
        assert _cgroup_file(pid, "pids", "pids.max").read_text().strip() == "max"

    asyncio.run(go())


def test_update_and_stats_of_an_exited_container_conflict(harness: Harness) -> None:
    async def go() -> None:
        cid = await harness.running(("true",))
        await asyncio.wait_for(harness.driver.wait(cid), 10)
        with pytest.raises(Conflict):
            await harness.driver.update(cid, harness.runtime, Resources(pids_limit=8))
        with pytest.raises(Conflict):
            await harness.driver.stats(cid, harness.runtime)

    asyncio.run(go())


def test_stats_of_a_running_container(harness: Harness) -> None:
    async def go() -> None:
        # Three processes (sh and two sleeps) once sh has burnt some cpu time:
        # cpuacct.stat counts in ticks of 10 ms.
        script = "sleep 100 & sleep 100 & i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done; wait"
        cid = await harness.running(("sh", "-c", script))
        await harness.driver.update(cid, harness.runtime, Resources(memory=96 * MIB, pids_limit=50))
        deadline = time.monotonic() + 20
        stats = await harness.driver.stats(cid, harness.runtime)
        while time.monotonic() < deadline and (
            stats.pids.current != 3 or stats.cpu.user_ns + stats.cpu.kernel_ns == 0
        ):
            await asyncio.sleep(0.05)
            stats = await harness.driver.stats(cid, harness.runtime)
        assert (stats.pids.current, stats.pids.limit) == (3, 50)
        assert stats.cgroup_version == (2 if _v2() else 1)
        assert stats.memory.limit == 96 * MIB
        assert 0 < stats.memory.usage < 96 * MIB
        assert "inactive_file" in stats.memory.stats
        assert stats.cpu.total_ns > 0
        assert stats.cpu.user_ns + stats.cpu.kernel_ns > 0
        assert stats.cpu.online_cpus == os.sysconf("SC_NPROCESSORS_ONLN")
        assert stats.cpu.system_ns > stats.cpu.total_ns
        if stats.cgroup_version == 1:
            assert stats.memory.stats.keys() >= {"cache", "rss", "total_inactive_file"}
            assert len(stats.cpu.per_cpu_ns) >= stats.cpu.online_cpus
            assert sum(stats.cpu.per_cpu_ns) == pytest.approx(stats.cpu.total_ns, rel=0.05)
        later = await harness.driver.stats(cid, harness.runtime)
        assert later.cpu.system_ns >= stats.cpu.system_ns

    asyncio.run(go())


def test_stats_without_a_memory_limit_report_the_machines_memory(harness: Harness) -> None:
    async def go() -> None:
        cid = await harness.running(("sleep", "100"))
        stats = await harness.driver.stats(cid, harness.runtime)
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        assert stats.memory.limit == pytest.approx(pages, rel=0.01)
        assert stats.pids.limit is None

    asyncio.run(go())


def test_open_attach(harness: Harness) -> None:
    async def go() -> None:
        cid = await harness.running(("sh", "-c", "read x; echo got-$x"), stdin=True)
        sock = harness.driver.open_attach(cid)
        try:
            sock.sendall(b"42\n")
            sock.settimeout(10)
            received = b""
            while b"got-42" not in received:
                packet = sock.recv(65536)
                if not packet:
                    break
                assert packet[0] == 2
                received += packet[1:]
        finally:
            sock.close()
        assert received == b"got-42\n"
        assert (await asyncio.wait_for(harness.driver.wait(cid), 10)).exit_code == 0
        await harness.driver.delete(cid, harness.runtime)
        with pytest.raises(Conflict):
            harness.driver.open_attach(cid)

    asyncio.run(go())


def test_open_attach_gives_a_seqpacket_socket(harness: Harness) -> None:
    async def go() -> None:
        cid = await harness.running(("sleep", "100"))
        with harness.driver.open_attach(cid) as sock:
            assert sock.type == socket.SOCK_SEQPACKET

    asyncio.run(go())
