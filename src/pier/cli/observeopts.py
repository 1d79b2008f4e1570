"""`run`/`create` flags of health checks, logging and cgroup limits, and their place in
the create request (as the docker CLI's parse of them)."""

from __future__ import annotations

from pier.cli.flags import BOOL, INT, LIST, STRING, Flag

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _bytes(text: str) -> int:
    from pier.cli.runopts import ram_in_bytes

    return ram_in_bytes(text)


def _duration_ns(text: str) -> int:
    from pier.cli.common import parse_go_duration

    seconds = parse_go_duration(text)
    if seconds is None:
        raise ValueError(f'time: invalid duration "{text}"')
    return round(seconds * 1e9)


def _throttle(text: str, rate: Any) -> dict[str, Any]:
    path, sep, value = text.rpartition(":")
    if not sep or not path.startswith("/dev/"):
        raise ValueError(f"bad format: {text}")
    return {"Path": path, "Rate": rate(value)}


def _weight_device(text: str) -> dict[str, Any]:
    # the docker CLI's ValidateWeightDevice
    path, sep, value = text.partition(":")
    if not sep or not path:
        raise ValueError(f"bad format: {text}")
    if not path.startswith("/dev/"):
        raise ValueError(f"bad format for device path: {text}")
    if not value.isdigit() or int(value) > 65535 or 0 < int(value) < 10 or int(value) > 1000:
        raise ValueError(f"invalid weight for device: {text}")
    return {"Path": path, "Weight": int(value)}


def _cgroup_rule(text: str) -> str:
    """The docker CLI's validateDeviceCgroupRule: 'type major:minor mode'."""
    import re

    if not re.search(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$", text):
        raise ValueError(f"invalid device cgroup format '{text}'")
    return text


OBSERVE_FLAGS: tuple[Flag, ...] = (
    Flag(name="blkio-weight", kind=INT, type_name="uint16",
         help="Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)"),
    Flag(name="blkio-weight-device", kind=LIST,
         help="Block IO weight (relative device weight) (default [])"),
    Flag(name="cgroup-parent", kind=STRING,
         help="Optional parent cgroup for the container"),
    Flag(name="cgroupns", kind=STRING,
         help="Cgroup namespace to use (host|private)"),
    Flag(name="cpu-period", kind=INT, help="Limit CPU CFS (Completely Fair Scheduler) period"),
    Flag(name="cpu-quota", kind=INT, help="Limit CPU CFS (Completely Fair Scheduler) quota"),
    Flag(name="cpu-rt-period", kind=INT, help="Limit CPU real-time period in microseconds"),
    Flag(name="cpu-rt-runtime", kind=INT, help="Limit CPU real-time runtime in microseconds"),
    Flag(name="cpu-shares", short="c", kind=INT, help="CPU shares (relative weight)"),
    Flag(name="cpuset-cpus", kind=STRING, help="CPUs in which to allow execution (0-3, 0,1)"),
    Flag(name="cpuset-mems", kind=STRING, help="MEMs in which to allow execution (0-3, 0,1)"),
    Flag(name="device-cgroup-rule", kind=LIST,
         help="Add a rule to the cgroup allowed devices list", validate=_cgroup_rule),
    Flag(name="device-read-bps", kind=LIST,
         help="Limit read rate (bytes per second) from a device"),
    Flag(name="device-read-iops", kind=LIST,
         help="Limit read rate (IO per second) from a device"),
    Flag(name="device-write-bps", kind=LIST,
         help="Limit write rate (bytes per second) to a device"),
    Flag(name="device-write-iops", kind=LIST,
         help="Limit write rate (IO per second) to a device"),
    Flag(name="health-cmd", kind=STRING, help="Command to run to check health"),
    Flag(name="health-interval", kind=STRING, type_name="duration",
         help="Time between running the check (ms|s|m|h) (default 0s)",
         validate=_duration_ns),
    Flag(name="health-retries", kind=INT,
         help="Consecutive failures needed to report unhealthy"),
    Flag(name="health-start-interval", kind=STRING, type_name="duration",
         help="Time between running the check during the start period (ms|s|m|h) "
              "(default 0s)", validate=_duration_ns),
    Flag(name="health-start-period", kind=STRING, type_name="duration",
         help="Start period for the container to initialize before starting health-retries "
              "countdown (ms|s|m|h) (default 0s)", validate=_duration_ns),
    Flag(name="health-timeout", kind=STRING, type_name="duration",
         help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)",
         validate=_duration_ns),
    Flag(name="kernel-memory", kind=STRING, type_name="bytes", help="Kernel memory limit",
         validate=_bytes),
    Flag(name="log-driver", kind=STRING, help="Logging driver for the container"),
    Flag(name="log-opt", kind=LIST, help="Log driver options"),
    Flag(name="memory-reservation", kind=STRING, type_name="bytes", help="Memory soft limit",
         validate=_bytes),
    Flag(name="memory-swap", kind=STRING, type_name="bytes",
         help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
    Flag(name="memory-swappiness", kind=INT, default=-1,
         help="Tune container memory swappiness (0 to 100) (default -1)"),
    Flag(name="no-healthcheck", help="Disable any container-specified HEALTHCHECK"),
    Flag(name="oom-kill-disable", kind=BOOL, help="Disable OOM Killer"),
    Flag(name="oom-score-adj", kind=INT, help="Tune host's OOM preferences (-1000 to 1000)"),
    Flag(name="pids-limit", kind=INT, help="Tune container pids limit (set -1 for unlimited)"),
)  # fmt: skip


class ObserveOptionError(ValueError):
    """docker's message for a flag that parses but cannot be used."""


def apply(opts: Any, config: dict[str, Any]) -> None:
    """Add what these flags ask for to a create request body (`HostConfig` inside)."""
    hc = config["HostConfig"]
    swappiness = opts["memory-swappiness"]
    if swappiness != -1 and not 0 <= swappiness <= 100:
        raise ObserveOptionError(
            f"invalid value: {swappiness}. Valid memory swappiness range is 0-100"
        )
    if (opts["cgroupns"] or "") not in ("", "host", "private"):
        raise ObserveOptionError("--cgroupns: invalid CGROUP mode")
    if opts["log-driver"] == "none" and opts["log-opt"]:
        raise ObserveOptionError("invalid logging opts for driver none")
    health: dict[str, Any] = {}
    if opts["no-healthcheck"]:
        if any(opts[k] for k in ("health-cmd", "health-interval", "health-timeout",
                                 "health-start-period", "health-start-interval")) or (
            opts["health-retries"]
        ):  # fmt: skip
            raise ObserveOptionError("--no-healthcheck conflicts with --health-* options")
        health = {"Test": ["NONE"]}
    else:
        if opts["health-cmd"]:
            health["Test"] = ["CMD-SHELL", opts["health-cmd"]]
        for flag, key in (
            ("health-interval", "Interval"),
            ("health-timeout", "Timeout"),
            ("health-start-period", "StartPeriod"),
            ("health-start-interval", "StartInterval"),
        ):
            if opts[flag]:
                value = _duration_ns(opts[flag])
                if value < 0:
                    raise ObserveOptionError(f"--{flag} cannot be negative")
                health[key] = value
        if opts["health-retries"]:
            if opts["health-retries"] < 0:
                raise ObserveOptionError("--health-retries cannot be negative")
            health["Retries"] = opts["health-retries"]
    if health:
        config["Healthcheck"] = health
    if opts["log-driver"] or opts["log-opt"]:
        log_opts: dict[str, str] = {}
        for item in opts["log-opt"]:
            key, eq, value = item.partition("=")
            if not eq:
                raise ObserveOptionError(f"invalid key-value pair format in log options: {item}")
            log_opts[key] = value
        hc["LogConfig"] = {"Type": opts["log-driver"] or "", "Config": log_opts}
    if opts["memory-swap"]:
        hc["MemorySwap"] = -1 if opts["memory-swap"] == "-1" else _bytes(opts["memory-swap"])
    if opts["kernel-memory"]:
        # Sent as the docker CLI sends it; API 1.42 and later daemons ignore it.
        hc["KernelMemory"] = _bytes(opts["kernel-memory"])
    if opts["memory-reservation"]:
        hc["MemoryReservation"] = _bytes(opts["memory-reservation"])
    if opts["memory-swappiness"] != -1:
        hc["MemorySwappiness"] = opts["memory-swappiness"]
    if "oom-kill-disable" in opts.given:
        hc["OomKillDisable"] = bool(opts["oom-kill-disable"])
    for flag, key in (
        ("cpu-shares", "CpuShares"),
        ("cpu-period", "CpuPeriod"),
        ("cpu-quota", "CpuQuota"),
        ("cpu-rt-period", "CpuRealtimePeriod"),
        ("cpu-rt-runtime", "CpuRealtimeRuntime"),
        ("blkio-weight", "BlkioWeight"),
        ("oom-score-adj", "OomScoreAdj"),
    ):
        if opts[flag]:
            hc[key] = opts[flag]
    for flag, key in (
        ("cpuset-cpus", "CpusetCpus"),
        ("cpuset-mems", "CpusetMems"),
        ("cgroup-parent", "CgroupParent"),
        ("cgroupns", "CgroupnsMode"),
    ):
        if opts[flag]:
            hc[key] = opts[flag]
    if opts["pids-limit"]:
        hc["PidsLimit"] = opts["pids-limit"]
    if opts["device-cgroup-rule"]:
        hc["DeviceCgroupRules"] = list(opts["device-cgroup-rule"])
    weights = []
    for item in opts["blkio-weight-device"]:
        try:
            weights.append(_weight_device(item))
        except ValueError as exc:
            raise ObserveOptionError(
                f'invalid argument "{item}" for "--blkio-weight-device" flag: {exc}'
            ) from None
    if weights:
        hc["BlkioWeightDevice"] = weights
    for flag, key, rate in (
        ("device-read-bps", "BlkioDeviceReadBps", _bytes),
        ("device-write-bps", "BlkioDeviceWriteBps", _bytes),
        ("device-read-iops", "BlkioDeviceReadIOps", int),
        ("device-write-iops", "BlkioDeviceWriteIOps", int),
    ):
        if opts[flag]:
            try:
                hc[key] = [_throttle(item, rate) for item in opts[flag]]
            except ValueError as exc:
                raise ObserveOptionError(
                    f'invalid argument "{opts[flag][0]}" for "--{flag}" flag: {exc}'
                ) from None
