"""What the host's cgroups can limit, read from file trees as v1 and v2 hosts lay them
out (cgroup-v2.rst: the root's cgroup.controllers, cpuset.cpus.effective)."""

from __future__ import annotations

from pathlib import Path

from pier.runtime.cgroupcaps import caps_v1, caps_v2, parse_list
from pier.system import host_warnings


def test_v2_root(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (tmp_path / "cpuset.cpus.effective").write_text("0-3\n")
    (tmp_path / "cpuset.mems.effective").write_text("0\n")
    caps = caps_v2(tmp_path)
    assert caps.version == 2 and caps.memory_limit and caps.swap_limit and caps.pids_limit
    assert caps.blkio_weight and caps.blkio_read_bps
    assert not caps.oom_kill_disable and not caps.memory_swappiness and not caps.kernel_memory
    assert caps.cpus == frozenset({0, 1, 2, 3}) and caps.mems == frozenset({0})
    assert host_warnings(caps) == ()


def test_v2_without_io_and_memory(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu pids\n")
    warnings = host_warnings(caps_v2(tmp_path))
    assert "WARNING: No memory limit support" in warnings
    assert "WARNING: No swap limit support" in warnings
    assert "WARNING: No io.weight support" in warnings
    assert "WARNING: No io.max (rbps) support" in warnings
    assert "WARNING: No cpuset support" in warnings
    # Not printed on v2: nothing a user can do about them.
    assert "WARNING: No oom kill disable support" not in warnings


def test_v1_hierarchies(tmp_path: Path) -> None:
    memory, blkio, cpuset = tmp_path / "memory", tmp_path / "blkio", tmp_path / "cpuset"
    for d in (memory, blkio, cpuset, tmp_path / "cpu", tmp_path / "pids"):
        d.mkdir()
    for name in ("memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.swappiness",
                 "memory.oom_control", "memory.kmem.tcp.limit_in_bytes"):  # fmt: skip
        (memory / name).write_text("")
    (blkio / "blkio.throttle.read_bps_device").write_text("")
    (cpuset / "cpuset.cpus").write_text("0-1\n")
    (cpuset / "cpuset.mems").write_text("0\n")
    (tmp_path / "cpu" / "cpu.shares").write_text("1024\n")
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    v1 = {name: tmp_path / name for name in ("memory", "blkio", "cpuset", "cpu", "pids")}
    caps = caps_v1(v1)
    assert caps.memory_limit and not caps.swap_limit and caps.oom_kill_disable
    assert caps.cpu_cfs and caps.cpu_shares and caps.pids_limit and caps.cpus == frozenset({0, 1})
    assert not caps.blkio_weight and caps.blkio_read_bps and not caps.blkio_write_bps
    warnings = host_warnings(caps)
    assert warnings == (
        "WARNING: No swap limit support",
        "WARNING: No blkio throttle.write_bps_device support",
        "WARNING: No blkio throttle.read_iops_device support",
        "WARNING: No blkio throttle.write_iops_device support",
    )


def test_cpuset_lists() -> None:
    assert parse_list("0-2,5") == frozenset({0, 1, 2, 5})
    assert parse_list("") == frozenset()


def test_real_time_groups_are_v1_only(tmp_path: Path) -> None:
    cpu = tmp_path / "cpu"
    cpu.mkdir()
    assert not caps_v1({"cpu": cpu}).cpu_realtime
    (cpu / "cpu.rt_period_us").write_text("1000000\n")
    assert caps_v1({"cpu": cpu}).cpu_realtime
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    assert not caps_v2(tmp_path).cpu_realtime  # moby: no real-time groups on v2
