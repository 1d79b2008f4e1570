"""`--mount`, `--ulimit` and `--gpus` values, parsed as the docker CLI's MountOpt,
UlimitOpt (go-units ParseUlimit) and GpuOpts: each raises ValueError with its words."""

from __future__ import annotations

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_ULIMITS = frozenset((
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
    "rss", "rtprio", "rttime", "sigpending", "stack",
))  # fmt: skip


def _csv(value: str) -> list[str]:
    import csv

    try:
        return next(csv.reader([value]))
    except (csv.Error, StopIteration) as exc:
        raise ValueError(str(exc)) from None


def _go_int(text: str) -> int:
    if not text or not text.lstrip("+-").isdigit():
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    return int(text)


def ulimit(val: str) -> dict[str, Any]:
    name, sep, limits = val.partition("=")
    if not sep:
        raise ValueError(f"invalid ulimit argument: {val}")
    if name not in _ULIMITS:
        raise ValueError(f"invalid ulimit type: {name}")
    parts = limits.split(":")
    if len(parts) > 2:
        raise ValueError(f"too many limit value arguments - {limits}, can only have up to two, "
                         "`soft[:hard]`")  # fmt: skip
    hard = _go_int(parts[1]) if len(parts) == 2 else None
    soft = _go_int(parts[0])
    if hard is None:
        hard = soft
    if hard != -1 and soft > hard:
        raise ValueError(f"ulimit soft limit must be less than or equal to hard limit: "
                         f"{soft} > {hard}")  # fmt: skip
    return {"Name": name, "Soft": soft, "Hard": hard}


def ulimits(values: list[str]) -> list[dict[str, Any]]:
    """Keyed by name, the last one given wins (UlimitOpt keeps a map)."""
    by_name = {u["Name"]: u for u in map(ulimit, values)}
    return list(by_name.values())


def _count(text: str) -> int:
    if text == "all":
        return -1
    try:
        return int(text)
    except ValueError:
        raise ValueError(f'invalid count ({text}): value must be either "all" or an integer: '
                         "invalid syntax") from None  # fmt: skip


def gpu_request(value: str) -> dict[str, Any]:
    req: dict[str, Any] = {"Driver": "", "Count": 0, "DeviceIDs": None, "Capabilities": None,
                           "Options": {}}  # fmt: skip
    seen: set[str] = set()
    for field in _csv(value):
        key, sep, val = field.partition("=")
        if key in seen:
            raise ValueError(f"gpu request key '{key}' can be specified only once")
        seen.add(key)
        if not sep:
            seen.add("count")
            req["Count"] = _count(key)
        elif key == "driver":
            req["Driver"] = val
        elif key == "count":
            req["Count"] = _count(val)
        elif key == "device":
            req["DeviceIDs"] = val.split(",")
        elif key == "capabilities":
            req["Capabilities"] = [[*val.split(","), "gpu"]]
        elif key == "options":
            req["Options"] = {k: v for k, _, v in (f.partition("=") for f in _csv(val))}
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    if "count" not in seen and req["DeviceIDs"] is None:
        req["Count"] = 1
    if req["Capabilities"] is None:
        req["Capabilities"] = [["gpu"]]
    return req


def _go_bool(key: str, val: str) -> bool:
    if val in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if val in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f"invalid value for {key}: {val}")


def mount(value: str) -> dict[str, Any]:
    """One `--mount` as a HostConfig.Mounts entry."""
    import os

    from pier.cli.runopts import ram_in_bytes

    # Go's omitempty: an empty Source is not sent, and the daemon keeps what it gets.
    m: dict[str, Any] = {"Type": "volume", "Target": ""}
    groups: dict[str, dict[str, Any]] = {}

    def group(name: str) -> dict[str, Any]:
        if name not in groups:
            groups[name] = {"Labels": {}, "DriverConfig": {}} if name == "VolumeOptions" else {}
        return groups[name]

    for field in _csv(value):
        key, sep, val = field.partition("=")
        key = key.lower()
        if not sep:
            if key in ("readonly", "ro"):
                m["ReadOnly"] = True
            elif key == "volume-nocopy":
                group("VolumeOptions")["NoCopy"] = True
            elif key == "bind-nonrecursive":
                group("BindOptions")["NonRecursive"] = True
            else:
                raise ValueError(f"invalid field '{field}' must be a key=value pair")
            continue
        if key == "type":
            m["Type"] = val.lower()
        elif key in ("source", "src"):
            m["Source"] = os.path.abspath(val) if val.startswith(".") else val
            if not m["Source"]:
                del m["Source"]
        elif key in ("target", "dst", "destination"):
            m["Target"] = val
        elif key in ("readonly", "ro"):
            m["ReadOnly"] = _go_bool(key, val)
        elif key == "consistency":
            m["Consistency"] = val.lower()
        elif key == "bind-propagation":
            group("BindOptions")["Propagation"] = val.lower()
        elif key == "bind-nonrecursive":
            group("BindOptions")["NonRecursive"] = _go_bool(key, val)
        elif key == "bind-recursive":
            recursive = {
                "enabled": None,
                "disabled": "NonRecursive",
                "writable": "ReadOnlyNonRecursive",
                "readonly": "ReadOnlyForceRecursive",
            }
            if val not in recursive:
                raise ValueError(
                    f'invalid value for {key}: {val} (must be "enabled", '
                    '"disabled", "writable", or "readonly")'
                )
            name = recursive[val]
            options = group("BindOptions")
            if name:
                options[name] = True
        elif key == "volume-subpath":
            group("VolumeOptions")["Subpath"] = val
        elif key == "volume-nocopy":
            try:
                group("VolumeOptions")["NoCopy"] = _go_bool(key, val)
            except ValueError:
                raise ValueError(f"invalid value for volume-nocopy: {val}") from None
        elif key == "volume-label":
            k, _, v = val.partition("=")
            if k:
                group("VolumeOptions")["Labels"][k] = v
        elif key == "volume-driver":
            group("VolumeOptions")["DriverConfig"]["Name"] = val
        elif key == "volume-opt":
            k, _, v = val.partition("=")
            driver = group("VolumeOptions")["DriverConfig"]
            if k:
                driver.setdefault("Options", {})[k] = v
        elif key == "image-subpath":
            group("ImageOptions")["Subpath"] = val
        elif key == "tmpfs-size":
            try:
                group("TmpfsOptions")["SizeBytes"] = ram_in_bytes(val)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {val}") from None
        elif key == "tmpfs-mode":
            try:
                group("TmpfsOptions")["Mode"] = int(val, 8)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {val}") from None
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    if not m["Type"]:
        raise ValueError("type is required")
    if not m["Target"]:
        raise ValueError("target is required")
    for name, kind in (("VolumeOptions", "volume"), ("ImageOptions", "image"),
                       ("BindOptions", "bind"), ("TmpfsOptions", "tmpfs")):  # fmt: skip
        if name in groups and m["Type"] != kind:
            raise ValueError(f"cannot mix '{kind}-*' options with mount type '{m['Type']}'")
    bind = groups.get("BindOptions", {})
    for flag, word in (
        ("ReadOnlyNonRecursive", "writable"),
        ("ReadOnlyForceRecursive", "readonly"),
    ):
        if bind.get(flag) and not m.get("ReadOnly"):
            raise ValueError(f"option 'bind-recursive={word}' requires 'readonly' to be "
                             "specified in conjunction")  # fmt: skip
    if bind.get("ReadOnlyForceRecursive") and bind.get("Propagation") != "rprivate":
        raise ValueError("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' "
                         "to be specified in conjunction")  # fmt: skip
    m.update(groups)
    return m
