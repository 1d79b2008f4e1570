"""Docker's volume JSON (swagger `Volume`, `VolumeCreateOptions`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pier.errors import InvalidParameter
from pier.volumes.model import NewVolume, Volume


def render_volume(
    v: Volume, mountpoint: str, usage: tuple[int, int] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        # sorted, as Go marshals a map
        "Labels": dict(sorted(v.labels.items())) or None,
        "Mountpoint": mountpoint,
        "Name": v.name,
        "Options": dict(sorted(v.options.items())) or None,
        "Scope": "local",
    }
    if usage is not None:
        out["UsageData"] = {"Size": usage[0], "RefCount": usage[1]}
    return out


def _str_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidParameter(f"json: cannot unmarshal into Go struct field {field}")
    return {str(k): str(v) for k, v in value.items()}


def parse_create(body: Mapping[str, Any]) -> NewVolume:
    name = body.get("Name") or ""
    driver = body.get("Driver") or "local"
    if not isinstance(name, str) or not isinstance(driver, str):
        raise InvalidParameter("json: cannot unmarshal into Go struct field Name of type string")
    return NewVolume(
        name=name,
        driver=driver,
        labels=_str_map(body.get("Labels"), "Labels"),
        options=_str_map(body.get("DriverOpts"), "DriverOpts"),
    )
