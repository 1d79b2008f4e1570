"""Create-request fields Pier does not implement yet: refused, never dropped.

Docker's clients send most HostConfig fields on every create, at their zero values
(`"PortBindings":{}`, `"Devices":[]`, `"MemorySwappiness":null`...), so a field is
refused only when it asks for something: a 501 that names the option as the docker
CLI spells it, so the user knows what was not done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pier.errors import NotImplementedByPier

# HostConfig field -> the option a user knows it by.
_HOST_CONFIG: dict[str, str] = {
    "VolumeDriver": "--volume-driver",
    "DeviceRequests": "--gpus",
    "StorageOpt": "--storage-opt",
    "Cgroup": "--cgroup",
    "Isolation": "--isolation",
    "KernelMemoryTCP": "kernel TCP memory limits",
    "CpuCount": "--cpu-count",
    "CpuPercent": "--cpu-percent",
    "IOMaximumIOps": "--io-maxiops",
    "IOMaximumBandwidth": "--io-maxbandwidth",
    "MaskedPaths": "custom masked paths",
    "ReadonlyPaths": "custom read-only paths",
    "Annotations": "--annotation",
}
# Values that mean "nothing asked" besides the zero values.
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "Isolation": ("default",),
    "VolumeDriver": ("local",),
}


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


def refuse_unsupported(body: Mapping[str, Any]) -> None:
    """Raise for the first create-request field that asks for what Pier lacks."""
    hc = body.get("HostConfig") or {}
    if not isinstance(hc, Mapping):
        return  # the parser answers that with its own 400
    for key, option in _HOST_CONFIG.items():
        if _asks(hc.get(key), _NEUTRAL.get(key, ())):
            _refuse(option)
