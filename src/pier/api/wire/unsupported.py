"""Create-request fields Pier does not implement yet: refused, never dropped.

Docker's clients send most HostConfig fields on every create, at their zero values
(`"PortBindings":{}`, `"Devices":[]`, `"MemorySwappiness":null`...), so a field is
refused only when it asks for something: a 501 that names the option as the docker
CLI spells it, so the user knows what was not done.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pier.errors import InvalidParameter, NotImplementedByPier

# HostConfig field -> the option a user knows it by.
_HOST_CONFIG: dict[str, str] = {
    "StorageOpt": "--storage-opt",
    "Cgroup": "--cgroup",
    "KernelMemoryTCP": "kernel TCP memory limits",
}
# Values that mean "nothing asked" besides the zero values.
_NEUTRAL: dict[str, tuple[Any, ...]] = {}


def _asks(value: Any, neutral: tuple[Any, ...] = ()) -> bool:
    if value in (None, "", 0, False) or value in neutral:
        return False
    if isinstance(value, Mapping | list | tuple):
        return any(_asks_entry(v) for v in value) if isinstance(value, list) else bool(value)
    return True


def _asks_entry(value: Any) -> bool:
    return value not in (None, "", {}, [])


def _refuse(option: str) -> None:
    raise NotImplementedByPier(f"{option} is not implemented in Pier yet")


def _refuse_device_requests(requests: Any) -> None:
    """`--gpus` and other DeviceRequests: Pier has no device driver (dockerd registers
    one only where nvidia's hook is installed), so every request is one dockerd refuses
    on such a host with its incompatibleDeviceRequest, a 400; dockerd says it at start,
    Pier at create, before anything exists."""
    if not isinstance(requests, list):
        return  # the parser answers that with its own 400
    for req in requests:
        if not isinstance(req, Mapping) or not _asks_entry(req):
            continue
        driver = req.get("Driver") or ""
        caps = req.get("Capabilities") or []
        go_caps = (
            "["
            + " ".join(
                "[" + " ".join(map(str, c)) + "]" if isinstance(c, list) else str(c) for c in caps
            )
            + "]"
        )
        raise InvalidParameter(
            f"could not select device driver {json.dumps(str(driver))} with capabilities: {go_caps}"
        )


def _refuse_windows_only(hc: Mapping[str, Any]) -> None:
    """Windows' options, refused as dockerd on Linux refuses them (400s); `CpuCount`
    and `CpuPercent` it ignores there (the latter with a warning), and so does Pier."""
    isolation = hc.get("Isolation")
    if isinstance(isolation, str) and isolation and isolation.lower() != "default":
        raise InvalidParameter(f"invalid isolation '{isolation}' on linux")
    if _asks(hc.get("IOMaximumBandwidth")) or _asks(hc.get("IOMaximumIOps")):
        raise InvalidParameter(
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps"
        )


def refuse_unsupported(body: Mapping[str, Any]) -> None:
    """Raise for the first create-request field that asks for what Pier lacks."""
    hc = body.get("HostConfig") or {}
    if not isinstance(hc, Mapping):
        return  # the parser answers that with its own 400
    _refuse_device_requests(hc.get("DeviceRequests"))
    _refuse_windows_only(hc)
    for key, option in _HOST_CONFIG.items():
        if _asks(hc.get(key), _NEUTRAL.get(key, ())):
            _refuse(option)
