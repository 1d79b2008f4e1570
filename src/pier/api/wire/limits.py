"""Docker's resource fields (create's HostConfig, update's UpdateConfig) -> Pier's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pier.containers.limits import LimitsUpdate
from pier.containers.model import BlkioThrottle, RestartPolicy, ThrottleDevice, WeightDevice
from pier.errors import InvalidParameter


def _int(value: Any, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameter(f"json: cannot unmarshal into Go struct field {field} of type int64")
    return int(value)


def parse_restart_policy(rp: Mapping[str, Any]) -> RestartPolicy:
    """HostConfig.RestartPolicy, at create and at update, with moby's refusals."""
    policy = RestartPolicy(
        name=_str(rp.get("Name"), "RestartPolicy.Name") or "no",
        maximum_retry_count=_int(rp.get("MaximumRetryCount"), "MaximumRetryCount"),
    )
    if policy.name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidParameter(
            f"invalid restart policy: unknown policy '{policy.name}'; "
            "use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        )
    if policy.maximum_retry_count and policy.name != "on-failure":
        raise InvalidParameter(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    if policy.maximum_retry_count < 0:
        raise InvalidParameter("invalid restart policy: maximum retry count cannot be negative")
    return policy


def _str(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameter(
            f"json: cannot unmarshal into Go struct field {field} of type string"
        )
    return value


def _throttles(value: Any, field: str) -> tuple[ThrottleDevice, ...]:
    if not value:
        return ()
    if not isinstance(value, list):
        raise InvalidParameter(f"json: cannot unmarshal into Go struct field {field}")
    out = []
    for item in value:
        if not isinstance(item, Mapping):
            raise InvalidParameter(f"json: cannot unmarshal into Go struct field {field}")
        # The numbers are the device's; create resolves them from the path.
        out.append(
            ThrottleDevice(
                path=_str(item.get("Path"), f"{field}.Path"),
                major=-1,
                minor=-1,
                rate=_int(item.get("Rate"), f"{field}.Rate"),
            )
        )
    return tuple(out)


def _weight_devices(value: Any) -> tuple[WeightDevice, ...]:
    field = "BlkioWeightDevice"
    if not value:
        return ()
    if not isinstance(value, list) or not all(isinstance(i, Mapping) for i in value):
        raise InvalidParameter(f"json: cannot unmarshal into Go struct field {field}")
    return tuple(
        WeightDevice(
            path=_str(item.get("Path"), f"{field}.Path"),
            major=-1,
            minor=-1,
            weight=_int(item.get("Weight"), f"{field}.Weight"),
        )
        for item in value
    )


_RESOURCE_INTS = {
    "memory": "Memory",
    "memory_swap": "MemorySwap",
    "memory_reservation": "MemoryReservation",
    "cpu_shares": "CpuShares",
    "cpu_period": "CpuPeriod",
    "cpu_quota": "CpuQuota",
    "nano_cpus": "NanoCpus",
    "blkio_weight": "BlkioWeight",
}
_RESOURCE_STRS = {"cpuset_cpus": "CpusetCpus", "cpuset_mems": "CpusetMems"}


def resources(body: Mapping[str, Any]) -> dict[str, Any]:
    """The resource fields a create's HostConfig and an update share, as keyword
    arguments of HostConfig and LimitsUpdate (0 and "": not set)."""
    out: dict[str, Any] = {name: _int(body.get(key), key) for name, key in _RESOURCE_INTS.items()}
    out.update({name: _str(body.get(key), key) for name, key in _RESOURCE_STRS.items()})
    return out


def parse_limit_fields(hc: Mapping[str, Any]) -> dict[str, Any]:
    """The HostConfig fields of `containers.limits` beyond the basic ones, as keyword
    arguments of HostConfig."""
    if not isinstance(hc, Mapping):
        return {}
    swappiness = hc.get("MemorySwappiness")
    oom = hc.get("OomKillDisable")
    rules = hc.get("DeviceCgroupRules") or []
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise InvalidParameter("json: cannot unmarshal into Go struct field DeviceCgroupRules")
    return {
        **resources(hc),
        "memory_swappiness": None if swappiness is None else _int(swappiness, "MemorySwappiness"),
        "oom_kill_disable": oom if isinstance(oom, bool) else None,
        "blkio_throttle": BlkioThrottle(
            read_bps=_throttles(hc.get("BlkioDeviceReadBps"), "BlkioDeviceReadBps"),
            write_bps=_throttles(hc.get("BlkioDeviceWriteBps"), "BlkioDeviceWriteBps"),
            read_iops=_throttles(hc.get("BlkioDeviceReadIOps"), "BlkioDeviceReadIOps"),
            write_iops=_throttles(hc.get("BlkioDeviceWriteIOps"), "BlkioDeviceWriteIOps"),
        ),
        "blkio_weight_device": _weight_devices(hc.get("BlkioWeightDevice")),
        "cpu_realtime_period": _int(hc.get("CpuRealtimePeriod"), "CpuRealtimePeriod"),
        "cpu_realtime_runtime": _int(hc.get("CpuRealtimeRuntime"), "CpuRealtimeRuntime"),
        "device_cgroup_rules": tuple(rules),
        "cgroupns_mode": _str(hc.get("CgroupnsMode"), "CgroupnsMode"),
    }


def parse_update(body: Mapping[str, Any]) -> LimitsUpdate:
    """UpdateConfig; a pids limit of 0 or below lifts the limit (moby's router)."""
    policy: RestartPolicy | None = None
    rp = body.get("RestartPolicy")
    if isinstance(rp, Mapping) and rp.get("Name"):
        policy = parse_restart_policy(rp)
    pids = body.get("PidsLimit")
    return LimitsUpdate(
        **resources(body),
        pids_limit=None if pids is None else _int(pids, "PidsLimit"),
        restart_policy=policy,
    )
