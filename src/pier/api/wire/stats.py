"""Stats samples as dockerd's StatsResponse JSON (api/types/container/stats.go),
including its omitempty rules: a field at zero is left out where Go leaves it out."""

from __future__ import annotations

from typing import Any

from pier.containers.stats import StatsFrame, StatsSample
from pier.containers.top import TopResult
from pier.runtime.cgroupstats import ContainerStats
from pier.timefmt import ZERO, format_ns

_MAX_UINT64 = 2**64 - 1


def _nonzero(**fields: int | None) -> dict[str, int]:
    return {k: v for k, v in fields.items() if v}


def _cpu(stats: ContainerStats | None) -> dict[str, Any]:
    if stats is None:
        return {
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        }
    c = stats.cpu
    usage: dict[str, Any] = {"total_usage": c.total_ns}
    if c.per_cpu_ns:
        usage["percpu_usage"] = list(c.per_cpu_ns)
    usage["usage_in_kernelmode"] = c.kernel_ns
    usage["usage_in_usermode"] = c.user_ns
    out: dict[str, Any] = {"cpu_usage": usage}
    out.update(_nonzero(system_cpu_usage=c.system_ns, online_cpus=c.online_cpus))
    out["throttling_data"] = {
        "periods": c.periods,
        "throttled_periods": c.throttled_periods,
        "throttled_time": c.throttled_ns,
    }
    return out


def _memory(stats: ContainerStats) -> dict[str, Any]:
    m = stats.memory
    out: dict[str, Any] = _nonzero(usage=m.usage, max_usage=m.max_usage)
    if m.stats:
        out["stats"] = dict(m.stats)
    out.update(_nonzero(failcnt=m.failcnt, limit=m.limit))
    return out


def _pids(stats: ContainerStats) -> dict[str, int]:
    limit = stats.pids.limit
    if limit is None and stats.cgroup_version == 2:
        limit = _MAX_UINT64  # containerd reads v2's "max" as the largest uint64
    return _nonzero(current=stats.pids.current, limit=limit)


def _blkio(stats: ContainerStats | None) -> dict[str, Any]:
    entries = (
        [
            {"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}
            for e in stats.io_service_bytes
        ]
        if stats is not None and stats.io_service_bytes
        else None
    )
    return {
        "io_service_bytes_recursive": entries,
        "io_serviced_recursive": None,
        "io_queue_recursive": None,
        "io_service_time_recursive": None,
        "io_wait_time_recursive": None,
        "io_merged_recursive": None,
        "io_time_recursive": None,
        "sectors_recursive": None,
    }


def _read(sample: StatsSample | None) -> str:
    return format_ns(sample.read_ns) if sample is not None and sample.read_ns else ZERO


def render_stats(frame: StatsFrame) -> dict[str, Any]:
    cur, prev = frame.current, frame.previous
    stats = cur.cgroup
    prev_stats = prev.cgroup if prev is not None else None
    out: dict[str, Any] = {
        "name": cur.name,
        "id": cur.id,
        "read": _read(cur),
        "preread": _read(prev),
        "pids_stats": _pids(stats) if stats is not None else {},
        "blkio_stats": _blkio(stats),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _cpu(stats),
        "precpu_stats": _cpu(prev_stats),
        "memory_stats": _memory(stats) if stats is not None else {},
    }
    if cur.networks:
        out["networks"] = {
            name: {
                "rx_bytes": n.rx_bytes,
                "rx_packets": n.rx_packets,
                "rx_errors": n.rx_errors,
                "rx_dropped": n.rx_dropped,
                "tx_bytes": n.tx_bytes,
                "tx_packets": n.tx_packets,
                "tx_errors": n.tx_errors,
                "tx_dropped": n.tx_dropped,
            }
            for name, n in cur.networks.items()
        }
    return out


def render_top(result: TopResult) -> dict[str, Any]:
    return {"Titles": list(result.titles), "Processes": [list(p) for p in result.processes]}
