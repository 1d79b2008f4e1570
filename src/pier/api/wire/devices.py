"""HostConfig.Devices (`--device`) on the wire: DeviceMapping objects both ways."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pier.containers.model import DeviceMapping
from pier.errors import InvalidParameter

_FIELD = "json: cannot unmarshal into Go struct field HostConfig.Devices"


def parse_devices(value: Any) -> tuple[DeviceMapping, ...]:
    """As dockerd: taken as sent (the docker CLI already filled the container path and
    the permissions); the host node is looked up at start."""
    if not value:
        return ()
    if not isinstance(value, list) or not all(isinstance(d, Mapping) for d in value):
        raise InvalidParameter(_FIELD)
    out = []
    for d in value:
        fields = [d.get(k) or "" for k in ("PathOnHost", "PathInContainer", "CgroupPermissions")]
        if not all(isinstance(f, str) for f in fields):
            raise InvalidParameter(f"{_FIELD} of type string")
        host, inside, perms = fields
        out.append(DeviceMapping(path_on_host=host, path_in_container=inside,
                                 cgroup_permissions=perms))  # fmt: skip
    return tuple(out)


def render_devices(devices: tuple[DeviceMapping, ...]) -> list[dict[str, str]]:
    return [
        {
            "PathOnHost": d.path_on_host,
            "PathInContainer": d.path_in_container,
            "CgroupPermissions": d.cgroup_permissions,
        }
        for d in devices
    ]
