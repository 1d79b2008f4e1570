"""What the host's cgroups can limit, as moby's pkg/sysinfo finds it.

On v1 each knob is a file of its controller's hierarchy root (memory.memsw.* for swap,
blkio.weight, blkio.throttle.*...); on v2 the controllers listed in the root's
cgroup.controllers decide, and v2 has no swappiness, no kernel memory and no switch
to turn the OOM killer off. Everything reads only the paths it is given, so tests run
it on file trees captured from hosts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from pier.runtime.cgroups import CgroupMode, CgroupMounts, read_mounts


@dataclass(frozen=True, slots=True, kw_only=True)
class CgroupCaps:
    version: int = 1
    memory_limit: bool = False
    swap_limit: bool = False
    memory_reservation: bool = False
    memory_swappiness: bool = False
    oom_kill_disable: bool = False
    kernel_memory: bool = False
    kernel_memory_tcp: bool = False
    pids_limit: bool = False
    cpu_shares: bool = False
    cpu_cfs: bool = False
    cpu_realtime: bool = False  # v1 only (moby: always false on v2)
    cpuset: bool = False
    blkio_weight: bool = False
    blkio_weight_device: bool = False
    blkio_read_bps: bool = False
    blkio_write_bps: bool = False
    blkio_read_iops: bool = False
    blkio_write_iops: bool = False
    cpus: frozenset[int] = field(default_factory=frozenset)  # cpuset.cpus of the root
    mems: frozenset[int] = field(default_factory=frozenset)


def parse_list(text: str) -> frozenset[int]:
    """A cpuset list ("0-3,5"); ValueError when malformed."""
    out: set[int] = set()
    text = text.strip()
    if not text:
        return frozenset()
    for part in text.split(","):
        lo, dash, hi = part.partition("-")
        if dash:
            a, b = int(lo), int(hi)
            if a > b or a < 0:
                raise ValueError(part)
            out.update(range(a, b + 1))
        else:
            value = int(lo)
            if value < 0:
                raise ValueError(part)
            out.add(value)
    return frozenset(out)


def _read_list(path: Path) -> frozenset[int]:
    try:
        return parse_list(path.read_text())
    except (OSError, ValueError):
        return frozenset()


def caps_v1(v1: dict[str, Path]) -> CgroupCaps:
    def has(controller: str, name: str) -> bool:
        root = v1.get(controller)
        return root is not None and (root / name).exists()

    cpuset = v1.get("cpuset")
    return CgroupCaps(
        version=1,
        memory_limit=has("memory", "memory.limit_in_bytes"),
        swap_limit=has("memory", "memory.memsw.limit_in_bytes"),
        memory_reservation=has("memory", "memory.soft_limit_in_bytes"),
        memory_swappiness=has("memory", "memory.swappiness"),
        oom_kill_disable=has("memory", "memory.oom_control"),
        kernel_memory=has("memory", "memory.kmem.limit_in_bytes"),
        kernel_memory_tcp=has("memory", "memory.kmem.tcp.limit_in_bytes"),
        pids_limit="pids" in v1,
        cpu_shares=has("cpu", "cpu.shares"),
        cpu_cfs=has("cpu", "cpu.cfs_quota_us"),
        cpu_realtime=has("cpu", "cpu.rt_period_us"),
        cpuset=cpuset is not None,
        blkio_weight=has("blkio", "blkio.weight"),
        blkio_weight_device=has("blkio", "blkio.weight_device"),
        blkio_read_bps=has("blkio", "blkio.throttle.read_bps_device"),
        blkio_write_bps=has("blkio", "blkio.throttle.write_bps_device"),
        blkio_read_iops=has("blkio", "blkio.throttle.read_iops_device"),
        blkio_write_iops=has("blkio", "blkio.throttle.write_iops_device"),
        cpus=_read_list(cpuset / "cpuset.cpus") if cpuset else frozenset(),
        mems=_read_list(cpuset / "cpuset.mems") if cpuset else frozenset(),
    )


def caps_v2(root: Path) -> CgroupCaps:
    try:
        controllers = set((root / "cgroup.controllers").read_text().split())
    except OSError:
        controllers = set()
    memory = "memory" in controllers
    io = "io" in controllers
    cpuset = "cpuset" in controllers
    return CgroupCaps(
        version=2,
        memory_limit=memory,
        swap_limit=memory,
        memory_reservation=memory,
        pids_limit="pids" in controllers,
        cpu_shares="cpu" in controllers,
        cpu_cfs="cpu" in controllers,
        cpuset=cpuset,
        blkio_weight=io,
        blkio_weight_device=io,
        blkio_read_bps=io,
        blkio_write_bps=io,
        blkio_read_iops=io,
        blkio_write_iops=io,
        cpus=_read_list(root / "cpuset.cpus.effective") if cpuset else frozenset(),
        mems=_read_list(root / "cpuset.mems.effective") if cpuset else frozenset(),
    )


def detect(mounts: CgroupMounts | None = None) -> CgroupCaps:
    m = mounts or read_mounts()
    if m.mode is CgroupMode.V2 and m.unified is not None:
        caps = caps_v2(m.unified)
        if not caps.cpus:  # the root has no cpuset.cpus.effective on some kernels
            caps = replace(caps, cpus=frozenset(os.sched_getaffinity(0)))
        return caps
    return caps_v1(m.v1)
