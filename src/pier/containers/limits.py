"""A container's cgroup limits: checked as dockerd checks them, at create and at
`docker update`, and turned into the runtime's `Resources`.

`verify` is moby's verifyPlatformContainerResources: what the host cannot do is
dropped with dockerd's warning ("Your kernel does not support swap limit
capabilities..."), what is wrong is a 400 with its wording. `apply_update` is moby's
Container.UpdateContainer: only the fields `docker update` changes, zero meaning
"unchanged", with its conflicts (NanoCPUs against a period or quota already set, a
memory limit above the swap limit already set).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TypeVar

from pier.containers.model import (
    BlkioThrottle,
    HostConfig,
    RestartPolicy,
    ThrottleDevice,
    WeightDevice,
)
from pier.errors import InvalidParameter
from pier.runtime.cgroupcaps import CgroupCaps, parse_list
from pier.runtime.resources import Resources

MIN_MEMORY = 6 * 1024 * 1024  # moby's linuxMinMemory
_Device = TypeVar("_Device", ThrottleDevice, WeightDevice)


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitsUpdate:
    """The body of POST /containers/{id}/update (Docker's UpdateConfig): 0, "" and
    None leave a value as it is."""

    memory: int = 0
    memory_swap: int = 0
    memory_reservation: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    nano_cpus: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    blkio_weight: int = 0
    pids_limit: int | None = None  # <= 0: no limit
    restart_policy: RestartPolicy | None = None


def adapt_at_create(hc: HostConfig) -> HostConfig:
    """moby's adaptContainerSettings: swap defaults to as much as the memory limit."""
    if hc.memory > 0 and hc.memory_swap == 0:
        hc = replace(hc, memory_swap=hc.memory * 2)
    if hc.memory_swappiness == -1:  # the docker CLI's "unset"
        hc = replace(hc, memory_swappiness=None)
    return hc


def verify(
    hc: HostConfig, caps: CgroupCaps, *, update: bool = False
) -> tuple[HostConfig, tuple[str, ...]]:
    """The limits of `hc` the host can apply, and dockerd's warnings for the others;
    InvalidParameter with dockerd's wording for limits that make no sense."""
    warnings: list[str] = []
    if hc.memory_swappiness == -1:
        hc = replace(hc, memory_swappiness=None)
    if hc.memory and hc.memory < MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if hc.memory > 0 and not caps.memory_limit:
        warnings.append(
            "Your kernel does not support memory limit capabilities or the cgroup is not "
            "mounted. Limitation discarded."
        )
        hc = replace(hc, memory=0, memory_swap=-1)
    if hc.memory > 0 and hc.memory_swap != -1 and not caps.swap_limit:
        warnings.append(
            "Your kernel does not support swap limit capabilities or the cgroup is not "
            "mounted. Memory limited without swap."
        )
        hc = replace(hc, memory_swap=-1)
    if hc.memory > 0 and hc.memory_swap > 0 and hc.memory_swap < hc.memory:
        raise InvalidParameter(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    if hc.memory == 0 and hc.memory_swap > 0 and not update:
        raise InvalidParameter(
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        )
    if hc.memory_swappiness is not None and not caps.memory_swappiness:
        warnings.append(
            "Your kernel does not support memory swappiness capabilities or the cgroup is "
            "not mounted. Memory swappiness discarded."
        )
        hc = replace(hc, memory_swappiness=None)
    if hc.memory_swappiness is not None and not 0 <= hc.memory_swappiness <= 100:
        raise InvalidParameter(
            f"Invalid value: {hc.memory_swappiness}, valid memory swappiness range is 0-100"
        )
    if hc.memory_reservation > 0 and not caps.memory_reservation:
        warnings.append(
            "Your kernel does not support memory soft limit capabilities or the cgroup is "
            "not mounted. Limitation discarded."
        )
        hc = replace(hc, memory_reservation=0)
    if 0 < hc.memory_reservation < MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if hc.memory > 0 and hc.memory_reservation > 0 and hc.memory < hc.memory_reservation:
        raise InvalidParameter(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    if hc.oom_kill_disable is not None and not caps.oom_kill_disable:
        if hc.oom_kill_disable:
            warnings.append(
                "Your kernel does not support OomKillDisable. OomKillDisable discarded."
            )
        hc = replace(hc, oom_kill_disable=None)
    if hc.oom_kill_disable and hc.memory == 0:
        warnings.append(
            "OOM killer is disabled for the container, but no memory limit is set, this can "
            "result in the system running out of resources."
        )
    if hc.pids_limit is not None and not caps.pids_limit:
        if hc.pids_limit > 0:
            warnings.append(
                "Your kernel does not support PIDs limit capabilities or the cgroup is not "
                "mounted. PIDs limit discarded."
            )
        hc = replace(hc, pids_limit=None)

    if hc.nano_cpus > 0 and hc.cpu_period > 0:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if hc.nano_cpus > 0 and hc.cpu_quota > 0:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if hc.nano_cpus > 0 and not caps.cpu_cfs:
        raise InvalidParameter(
            "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or "
            "the cgroup is not mounted"
        )
    ncpu = os.cpu_count() or 1
    if hc.nano_cpus and not 0 < hc.nano_cpus <= ncpu * 1_000_000_000:
        raise InvalidParameter(
            f"range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )
    if hc.cpu_shares > 0 and not caps.cpu_shares:
        warnings.append(
            "Your kernel does not support CPU shares or the cgroup is not mounted. Shares "
            "discarded."
        )
        hc = replace(hc, cpu_shares=0)
    if (hc.cpu_period or hc.cpu_quota) and not caps.cpu_cfs:
        warnings.append(
            "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded."
        )
        hc = replace(hc, cpu_period=0, cpu_quota=0)
    if hc.cpu_period and not 1000 <= hc.cpu_period <= 1_000_000:
        raise InvalidParameter(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if 0 < hc.cpu_quota < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")

    if (hc.cpuset_cpus or hc.cpuset_mems) and not caps.cpuset:
        warnings.append(
            "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded."
        )
        hc = replace(hc, cpuset_cpus="", cpuset_mems="")
    _check_set(hc.cpuset_cpus, caps.cpus, "cpus", "CPUs")
    _check_set(hc.cpuset_mems, caps.mems, "mems", "memory nodes")

    if hc.blkio_weight > 0 and not caps.blkio_weight:
        warnings.append(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. "
            "Weight discarded."
        )
        hc = replace(hc, blkio_weight=0)
    if hc.blkio_weight > 0 and not 10 <= hc.blkio_weight <= 1000:
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")
    if hc.blkio_weight_device and not caps.blkio_weight_device:
        warnings.append(
            "Your kernel does not support Block I/O weight_device or the cgroup is not "
            "mounted. Weight-device discarded."
        )
        hc = replace(hc, blkio_weight_device=())
    hc, throttle_warnings = _verify_throttles(hc, caps)
    warnings += throttle_warnings
    if not -1000 <= hc.oom_score_adj <= 1000:
        raise InvalidParameter(
            f"Invalid value {hc.oom_score_adj}, range for oom score adj is [-1000, 1000]"
        )
    if hc.cgroupns_mode not in ("", "host", "private"):
        raise InvalidParameter(f"invalid cgroup namespace mode: {hc.cgroupns_mode}")
    _check_realtime(hc, caps)
    return hc, tuple(warnings)


def _check_realtime(hc: HostConfig, caps: CgroupCaps) -> None:
    """moby's validateResources (runconfig): refused, not discarded. A runtime the
    parent cgroups have no share for is the runtime's refusal at start, as dockerd's
    when its `cpu-rt-runtime` is not set."""
    period, runtime = hc.cpu_realtime_period, hc.cpu_realtime_runtime
    if (period or runtime) and not caps.cpu_realtime:
        raise InvalidParameter("kernel does not support CPU real-time scheduler")
    if period and runtime and runtime > period:
        raise InvalidParameter("cpu real-time runtime cannot be higher than cpu real-time period")


def _check_set(value: str, available: frozenset[int], what: str, shown: str) -> None:
    if not value:
        return
    try:
        wanted = parse_list(value)
    except ValueError:
        raise InvalidParameter(
            f"Invalid value {value} for cpuset {what}: invalid format: {value}"
        ) from None
    if available and not wanted <= available:
        listed = ",".join(str(v) for v in sorted(available))
        raise InvalidParameter(
            f"Requested {shown} are not available - requested {value}, available: {listed}"
        )


_THROTTLES = (
    ("read_bps", "blkio_read_bps", "BPS Block I/O read limit", "Block I/O BPS read limit"),
    ("write_bps", "blkio_write_bps", "BPS Block I/O write limit", "Block I/O BPS write limit"),
    ("read_iops", "blkio_read_iops", "IOPS Block read limit", "Block I/O IOPS read limit"),
    ("write_iops", "blkio_write_iops", "IOPS Block write limit", "Block I/O IOPS write limit"),
)


def _verify_throttles(hc: HostConfig, caps: CgroupCaps) -> tuple[HostConfig, list[str]]:
    warnings = []
    throttle = hc.blkio_throttle
    for field_name, cap, what, dropped in _THROTTLES:
        if getattr(throttle, field_name) and not getattr(caps, cap):
            warnings.append(
                f"Your kernel does not support {what} or the cgroup is not mounted. "
                f"{dropped} discarded."
            )
            throttle = replace(throttle, **{field_name: ()})
    return replace(hc, blkio_throttle=throttle), warnings


def apply_update(current: HostConfig, change: LimitsUpdate, cid: str) -> HostConfig:
    """The host config after `docker update` (moby's UpdateContainer)."""

    def conflict(message: str) -> InvalidParameter:
        return InvalidParameter(f"Cannot update container {cid}: {message}")

    if change.nano_cpus > 0 and current.cpu_period > 0:
        raise conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"
        )
    if change.nano_cpus > 0 and current.cpu_quota > 0:
        raise conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"
        )
    if change.cpu_period > 0 and current.nano_cpus > 0:
        raise conflict(
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"
        )
    if change.cpu_quota > 0 and current.nano_cpus > 0:
        raise conflict(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        )
    hc = current
    if change.blkio_weight:
        hc = replace(hc, blkio_weight=change.blkio_weight)
    if change.cpu_shares:
        hc = replace(hc, cpu_shares=change.cpu_shares)
    if change.nano_cpus:
        hc = replace(hc, nano_cpus=change.nano_cpus)
    if change.cpu_period:
        hc = replace(hc, cpu_period=change.cpu_period)
    if change.cpu_quota:
        hc = replace(hc, cpu_quota=change.cpu_quota)
    if change.cpuset_cpus:
        hc = replace(hc, cpuset_cpus=change.cpuset_cpus)
    if change.cpuset_mems:
        hc = replace(hc, cpuset_mems=change.cpuset_mems)
    if change.memory:
        if change.memory > current.memory_swap and change.memory_swap == 0:
            raise conflict(
                "Memory limit should be smaller than already set memoryswap limit, update "
                "the memoryswap at the same time"
            )
        hc = replace(hc, memory=change.memory)
    if change.memory_swap:
        hc = replace(hc, memory_swap=change.memory_swap)
    if change.memory_reservation:
        hc = replace(hc, memory_reservation=change.memory_reservation)
    if change.pids_limit is not None:
        hc = replace(hc, pids_limit=change.pids_limit if change.pids_limit > 0 else None)
    if change.restart_policy is not None and change.restart_policy.name:
        if current.auto_remove and change.restart_policy.name != "no":
            raise conflict(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
            )
        hc = replace(hc, restart_policy=change.restart_policy)
    return hc


def as_host_config(change: LimitsUpdate) -> HostConfig:
    """The update's limits alone, as `verify` checks them (dockerd checks the request,
    not the merged result)."""
    return HostConfig(
        memory=change.memory,
        memory_swap=change.memory_swap,
        memory_reservation=change.memory_reservation,
        cpu_shares=change.cpu_shares,
        cpu_period=change.cpu_period,
        cpu_quota=change.cpu_quota,
        nano_cpus=change.nano_cpus,
        cpuset_cpus=change.cpuset_cpus,
        cpuset_mems=change.cpuset_mems,
        blkio_weight=change.blkio_weight,
        pids_limit=change.pids_limit,
    )


def resources(hc: HostConfig, *, lift_pids: bool = False) -> Resources:
    """The runtime's form of `hc`'s limits. At update, `lift_pids` turns "no pids
    limit" into an explicit lift (a new cgroup has none anyway)."""
    quota = hc.cpu_quota or None
    period = hc.cpu_period or None
    if hc.nano_cpus:
        period = 100_000
        quota = hc.nano_cpus * period // 1_000_000_000
    t = hc.blkio_throttle
    pids = hc.pids_limit
    if pids is None and lift_pids:
        pids = -1
    return Resources(
        memory=hc.memory or None,
        memory_reservation=hc.memory_reservation or None,
        memory_swap=hc.memory_swap or None,
        memory_swappiness=hc.memory_swappiness,
        oom_kill_disable=hc.oom_kill_disable,
        cpu_shares=hc.cpu_shares or None,
        cpu_quota=quota,
        cpu_period=period,
        cpuset_cpus=hc.cpuset_cpus or None,
        cpuset_mems=hc.cpuset_mems or None,
        pids_limit=pids,
        blkio_weight=hc.blkio_weight or None,
        read_bps=tuple((d.major, d.minor, d.rate) for d in t.read_bps),
        write_bps=tuple((d.major, d.minor, d.rate) for d in t.write_bps),
        read_iops=tuple((d.major, d.minor, d.rate) for d in t.read_iops),
        write_iops=tuple((d.major, d.minor, d.rate) for d in t.write_iops),
        weight_device=tuple((d.major, d.minor, d.weight) for d in hc.blkio_weight_device),
        cpu_realtime_period=hc.cpu_realtime_period or None,
        cpu_realtime_runtime=hc.cpu_realtime_runtime or None,
    )


def resolve_devices(hc: HostConfig) -> HostConfig:
    """The device numbers of each throttled path (moby stats them at start; Pier at
    create, so a wrong path is a 400 before anything exists)."""
    t = hc.blkio_throttle

    def numbers(devices: tuple[_Device, ...]) -> tuple[_Device, ...]:
        out = []
        for d in devices:
            try:
                rdev = os.stat(d.path).st_rdev
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
                raise InvalidParameter(f"stat {d.path}: {reason}") from None
            out.append(replace(d, major=os.major(rdev), minor=os.minor(rdev)))
        return tuple(out)

    if hc.blkio_weight_device:
        hc = replace(hc, blkio_weight_device=numbers(hc.blkio_weight_device))
    if not (t.read_bps or t.write_bps or t.read_iops or t.write_iops):
        return hc
    throttle = BlkioThrottle(
        read_bps=numbers(t.read_bps),
        write_bps=numbers(t.write_bps),
        read_iops=numbers(t.read_iops),
        write_iops=numbers(t.write_iops),
    )
    return replace(hc, blkio_throttle=throttle)
