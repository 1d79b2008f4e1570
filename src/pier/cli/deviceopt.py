"""`--device /dev/x[:/dev/y][:rwm]` as the docker CLI checks and splits it
(validateLinuxPath, then parseLinuxDevice)."""

from __future__ import annotations

import posixpath


def _mode(mode: str) -> bool:
    return 0 < len(mode) <= 3 and all(mode.count(c) <= 1 for c in mode) and set(mode) <= set("rwm")


def check_device(val: str) -> str:
    """Raises ValueError with the docker CLI's reason."""
    split = val.split(":", 2)
    if val.count(":") > 2 or not split[0]:
        raise ValueError(f"bad format for path: {val}")
    if len(split) == 3 and not _mode(split[2]):
        raise ValueError(f"bad mode specified: {split[2]}")
    inside = split[1] if len(split) == 3 or (len(split) == 2 and not _mode(split[1])) else split[0]
    if not posixpath.isabs(inside):
        raise ValueError(f"{inside} is not an absolute path")
    return val


def device_mapping(val: str) -> dict[str, str]:
    """HostConfig.Devices entry: the container path defaults to the host's."""
    parts = val.split(":", 2)
    src, dst, perms = parts[0], "", "rwm"
    if len(parts) == 3:
        dst, perms = parts[1], parts[2]
    elif len(parts) == 2:
        if _mode(parts[1]):
            perms = parts[1]
        else:
            dst = parts[1]
    return {"PathOnHost": src, "PathInContainer": dst or src, "CgroupPermissions": perms}


def devices(values: list[str]) -> list[dict[str, str]]:
    """Checked when the request is built, as docker's (`docker: <reason>`, status 125)."""
    from pier.cli.runopts import OptionError

    out = []
    for val in values:
        try:
            check_device(val)
        except ValueError as exc:
            raise OptionError(str(exc)) from None
        out.append(device_mapping(val))
    return out
