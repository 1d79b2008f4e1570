"""A container's cgroup limits, and their OCI `LinuxResources` form.

The same rendering serves config.json at create and `<runtime> update --resources`
on a running container; the runtimes leave a field they are not given unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources:
    """Limits in Docker's terms and units. None (and 0, as in Docker's API) means
    "not set": the default at create, unchanged at update."""

    memory: int | None = None  # bytes
    memory_reservation: int | None = None  # bytes (soft limit)
    memory_swap: int | None = None  # memory + swap, bytes; -1 unlimited
    memory_swappiness: int | None = None
    oom_kill_disable: bool | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None  # microseconds per period
    cpu_period: int | None = None  # microseconds
    cpuset_cpus: str | None = None  # "0-2,4"
    cpuset_mems: str | None = None
    pids_limit: int | None = None  # negative: unlimited
    blkio_weight: int | None = None  # 10-1000
    # (major, minor, rate) per device: bytes or operations per second.
    read_bps: tuple[tuple[int, int, int], ...] = ()
    write_bps: tuple[tuple[int, int, int], ...] = ()
    read_iops: tuple[tuple[int, int, int], ...] = ()
    write_iops: tuple[tuple[int, int, int], ...] = ()
    # (major, minor, weight) per device
    weight_device: tuple[tuple[int, int, int], ...] = ()
    cpu_realtime_period: int | None = None  # microseconds
    cpu_realtime_runtime: int | None = None


def render_resources(r: Resources, *, update: bool = False) -> dict[str, Any]:
    """The OCI `linux.resources` object (without device rules), holding only what
    is set. A negative pids limit lifts the limit: at `update` that is -1 (moby's
    getPidsLimit; what the runtimes take as "max"); at create it is left out, as a new
    cgroup has no limit (and crun 1.8 on cgroup v1 writes -1 to pids.max, which the
    kernel refuses)."""
    out: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    if r.memory:
        memory["limit"] = r.memory
    if r.memory_reservation:
        memory["reservation"] = r.memory_reservation
    if r.memory_swap:
        memory["swap"] = r.memory_swap
    if r.memory_swappiness is not None and r.memory_swappiness >= 0:
        memory["swappiness"] = r.memory_swappiness
    if r.oom_kill_disable is not None:
        memory["disableOOMKiller"] = r.oom_kill_disable
    if memory:
        out["memory"] = memory
    cpu: dict[str, Any] = {}
    if r.cpu_shares:
        cpu["shares"] = r.cpu_shares
    if r.cpu_quota:
        cpu["quota"] = r.cpu_quota
    if r.cpu_period:
        cpu["period"] = r.cpu_period
    if r.cpuset_cpus:
        cpu["cpus"] = r.cpuset_cpus
    if r.cpuset_mems:
        cpu["mems"] = r.cpuset_mems
    if r.cpu_realtime_period:
        cpu["realtimePeriod"] = r.cpu_realtime_period
    if r.cpu_realtime_runtime:
        cpu["realtimeRuntime"] = r.cpu_realtime_runtime
    if cpu:
        out["cpu"] = cpu
    if r.pids_limit is not None and r.pids_limit > 0:
        out["pids"] = {"limit": r.pids_limit}
    elif r.pids_limit is not None and r.pids_limit < 0 and update:
        out["pids"] = {"limit": -1}
    block_io: dict[str, Any] = {}
    if r.blkio_weight:
        block_io["weight"] = r.blkio_weight
    if r.weight_device:
        block_io["weightDevice"] = [
            {"major": a, "minor": b, "weight": w} for a, b, w in r.weight_device
        ]
    for key, devices in (
        ("throttleReadBpsDevice", r.read_bps),
        ("throttleWriteBpsDevice", r.write_bps),
        ("throttleReadIOPSDevice", r.read_iops),
        ("throttleWriteIOPSDevice", r.write_iops),
    ):
        if devices:
            block_io[key] = [{"major": a, "minor": b, "rate": rate} for a, b, rate in devices]
    if block_io:
        out["blockIO"] = block_io
    return out
