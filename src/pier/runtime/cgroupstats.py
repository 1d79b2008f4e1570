"""A container's resource usage read from its cgroup, as dockerd reports it.

The numbers and names follow moby's daemon/stats_unix.go (statsV1, statsV2) over
containerd's cgroups readers: on v1 the memory stats are memory.stat's cache, rss, ...
and their total_* forms, cpu has per-cpu usage and the user/system split of
cpuacct.stat in nanoseconds; on v2 the memory stats are memory.stat's anon, file, ...,
there is no per-cpu usage and no max usage, failcnt is memory.events' oom count and
block I/O is io.stat's rbytes/wbytes as "read"/"write". A memory limit above the
machine's memory (no limit) is reported as the machine's memory, and the system cpu
usage is /proc/stat's first seven "cpu" columns in nanoseconds, as dockerd does.

Everything here reads only the paths it is given, so tests run it on file trees.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

_NS_PER_S = 1_000_000_000
# dockerd divides /proc/stat's ticks by 100 whatever the host's USER_HZ.
_DOCKER_CLOCK_TICKS = 100

# The memory.stat keys dockerd passes on (moby statsV1 / statsV2).
_V1_MEMORY_KEYS = (
    "cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout",
    "pgfault", "pgmajfault", "inactive_anon", "active_anon", "inactive_file", "active_file",
    "unevictable", "hierarchical_memory_limit", "hierarchical_memsw_limit",
)  # fmt: skip
_V1_TOTAL_KEYS = (
    "cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout",
    "pgfault", "pgmajfault", "inactive_anon", "active_anon", "inactive_file", "active_file",
    "unevictable",
)  # fmt: skip
_V2_MEMORY_KEYS = (
    "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty",
    "file_writeback", "anon_thp", "inactive_anon", "active_anon", "inactive_file",
    "active_file", "unevictable", "slab_reclaimable", "slab_unreclaimable", "pgfault",
    "pgmajfault", "workingset_refault", "workingset_activate", "workingset_nodereclaim",
    "pgrefill", "pgscan", "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree",
    "pglazyfreed", "thp_fault_alloc", "thp_collapse_alloc",
)  # fmt: skip

_EMPTY: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class CpuStats:
    total_ns: int = 0
    per_cpu_ns: tuple[int, ...] = ()  # v1 only
    kernel_ns: int = 0
    user_ns: int = 0
    system_ns: int = 0  # the whole host's cpu time (/proc/stat), for percentages
    online_cpus: int = 0
    throttled_periods: int = 0
    periods: int = 0
    throttled_ns: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryStats:
    usage: int = 0  # bytes, page cache included
    max_usage: int | None = None  # v1 only
    limit: int = 0  # bytes; the machine's memory when there is no limit
    failcnt: int | None = None
    stats: Mapping[str, int] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True, kw_only=True)
class PidsStats:
    current: int = 0
    limit: int | None = None  # None: no limit


@dataclass(frozen=True, slots=True, kw_only=True)
class BlkioEntry:
    major: int
    minor: int
    op: str  # v1: the file's "Read", "Write", ..., "Total"; v2: "read", "write"
    value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NetStats:
    """One interface's counters, as Docker's NetworkStats."""

    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errors: int = 0
    rx_dropped: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    tx_dropped: int = 0


def parse_net_dev(text: str) -> dict[str, NetStats]:
    """/proc/net/dev: two header lines, then `name: rx(8 columns) tx(8 columns)`."""
    out: dict[str, NetStats] = {}
    for line in text.splitlines()[2:]:
        name, colon, rest = line.partition(":")
        values = rest.split()
        if not colon or len(values) < 16:
            continue
        try:
            v = [int(x) for x in values[:16]]
        except ValueError:
            continue
        out[name.strip()] = NetStats(
            rx_bytes=v[0],
            rx_packets=v[1],
            rx_errors=v[2],
            rx_dropped=v[3],
            tx_bytes=v[8],
            tx_packets=v[9],
            tx_errors=v[10],
            tx_dropped=v[11],
        )
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerStats:
    """One snapshot of a container's cgroup."""

    cgroup_version: int  # 1 or 2
    cpu: CpuStats
    memory: MemoryStats
    pids: PidsStats
    io_service_bytes: tuple[BlkioEntry, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HostUsage:
    """What the stats need from the host itself."""

    system_cpu_ns: int
    online_cpus: int
    machine_memory: int  # bytes
    clock_ticks: int = 100  # USER_HZ, the unit of cpuacct.stat


# -- the host ----------------------------------------------------------------------


def parse_proc_stat(text: str) -> tuple[int, int]:
    """(system cpu ns, online cpus) from /proc/stat, computed as dockerd does."""
    system = online = 0
    for line in text.splitlines():
        if not line.startswith("cpu"):
            break
        parts = line.split()
        if parts[0] == "cpu":
            ticks = sum(int(v) for v in parts[1:8])
            system = ticks * _NS_PER_S // _DOCKER_CLOCK_TICKS
        else:
            online += 1
    return system, online


def parse_meminfo_total(text: str) -> int:
    """MemTotal of /proc/meminfo, in bytes (0 if absent)."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/<pid>/cgroup as controller -> path; the v2 (unified) entry is under ""."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            out[""] = path
        for name in controllers.split(","):
            if name:
                out[name] = path
    return out


# -- file readers ------------------------------------------------------------------


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _int(path: Path) -> int | None:
    """A single-number file; None when absent, unreadable or "max"."""
    raw = _text(path).strip()
    try:
        return int(raw)
    except ValueError:
        return None


def parse_flat_keyed(text: str) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat, cpuacct.stat, memory.events)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value)
    return out


def parse_v1_blkio(text: str) -> tuple[BlkioEntry, ...]:
    """blkio.*io_service_bytes_recursive: `MAJ:MIN Op value` lines and a final
    `Total value` line (dropped, as containerd does)."""
    out: list[BlkioEntry] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) not in (2, 3) or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        op = parts[1] if len(parts) == 3 else ""  # sectors/time files have no op
        with contextlib.suppress(ValueError):
            out.append(BlkioEntry(major=int(major), minor=int(minor), op=op, value=int(parts[-1])))
    return tuple(out)


def parse_io_stat(text: str) -> tuple[BlkioEntry, ...]:
    """io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N ...` per device."""
    out: list[BlkioEntry] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        fields = dict(p.partition("=")[::2] for p in parts[1:])
        with contextlib.suppress(ValueError):
            dev = int(major), int(minor)
            read, write = int(fields.get("rbytes", 0)), int(fields.get("wbytes", 0))
            out.append(BlkioEntry(major=dev[0], minor=dev[1], op="read", value=read))
            out.append(BlkioEntry(major=dev[0], minor=dev[1], op="write", value=write))
    return tuple(out)


def _capped(limit: int | None, host: HostUsage) -> int:
    if limit is None or (host.machine_memory and limit > host.machine_memory):
        return host.machine_memory
    return limit


def read_v2(d: Path, host: HostUsage) -> ContainerStats:
    """The stats of the v2 cgroup directory `d`."""
    cpu = parse_flat_keyed(_text(d / "cpu.stat"))
    memory_stat = parse_flat_keyed(_text(d / "memory.stat"))
    events = parse_flat_keyed(_text(d / "memory.events"))
    return ContainerStats(
        cgroup_version=2,
        cpu=CpuStats(
            total_ns=cpu.get("usage_usec", 0) * 1000,
            kernel_ns=cpu.get("system_usec", 0) * 1000,
            user_ns=cpu.get("user_usec", 0) * 1000,
            system_ns=host.system_cpu_ns,
            online_cpus=host.online_cpus,
            periods=cpu.get("nr_periods", 0),
            throttled_periods=cpu.get("nr_throttled", 0),
            throttled_ns=cpu.get("throttled_usec", 0) * 1000,
        ),
        memory=MemoryStats(
            usage=_int(d / "memory.current") or 0,
            limit=_capped(_int(d / "memory.max"), host),
            failcnt=events.get("oom", 0) if events else None,
            stats=MappingProxyType({k: memory_stat.get(k, 0) for k in _V2_MEMORY_KEYS}),
        ),
        pids=PidsStats(current=_int(d / "pids.current") or 0, limit=_int(d / "pids.max")),
        io_service_bytes=parse_io_stat(_text(d / "io.stat")),
    )


def read_v1(dirs: Mapping[str, Path], host: HostUsage) -> ContainerStats:
    """The stats of a v1 container whose cgroup directory for each controller
    ("memory", "cpu", "cpuacct", "pids", "blkio") is in `dirs`."""
    mem = dirs.get("memory")
    acct = dirs.get("cpuacct")
    cpu_dir = dirs.get("cpu")
    pids = dirs.get("pids")
    blkio = dirs.get("blkio")
    ticks = host.clock_ticks or 100

    times = parse_flat_keyed(_text(acct / "cpuacct.stat")) if acct else {}
    throttling = parse_flat_keyed(_text(cpu_dir / "cpu.stat")) if cpu_dir else {}
    per_cpu = _text(acct / "cpuacct.usage_percpu").split() if acct else []
    cpu = CpuStats(
        total_ns=(_int(acct / "cpuacct.usage") or 0) if acct else 0,
        per_cpu_ns=tuple(int(v) for v in per_cpu if v.isdigit()),
        kernel_ns=times.get("system", 0) * _NS_PER_S // ticks,
        user_ns=times.get("user", 0) * _NS_PER_S // ticks,
        system_ns=host.system_cpu_ns,
        online_cpus=host.online_cpus,
        periods=throttling.get("nr_periods", 0),
        throttled_periods=throttling.get("nr_throttled", 0),
        throttled_ns=throttling.get("throttled_time", 0),
    )

    memory = MemoryStats()
    if mem is not None:
        raw = parse_flat_keyed(_text(mem / "memory.stat"))
        stats = {k: raw.get(k, 0) for k in _V1_MEMORY_KEYS}
        stats.update({f"total_{k}": raw.get(f"total_{k}", 0) for k in _V1_TOTAL_KEYS})
        memory = MemoryStats(
            usage=_int(mem / "memory.usage_in_bytes") or 0,
            max_usage=_int(mem / "memory.max_usage_in_bytes") or 0,
            limit=_capped(_int(mem / "memory.limit_in_bytes"), host),
            failcnt=_int(mem / "memory.failcnt") or 0,
            stats=MappingProxyType(stats),
        )

    io: tuple[BlkioEntry, ...] = ()
    if blkio is not None:
        # containerd's choice: the CFQ files when the kernel has them, else the
        # throttle policy's (which every kernel keeps).
        if (blkio / "blkio.io_serviced_recursive").exists():
            io = parse_v1_blkio(_text(blkio / "blkio.io_service_bytes_recursive"))
        else:
            io = parse_v1_blkio(_text(blkio / "blkio.throttle.io_service_bytes_recursive"))

    return ContainerStats(
        cgroup_version=1,
        cpu=cpu,
        memory=memory,
        pids=PidsStats(
            current=(_int(pids / "pids.current") or 0) if pids else 0,
            limit=_int(pids / "pids.max") if pids else None,
        ),
        io_service_bytes=io,
    )
