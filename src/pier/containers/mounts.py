"""Mount requests: what `-v`/`Binds`, `--mount`/`Mounts`, `--tmpfs`/`Tmpfs`,
`--volumes-from` and anonymous volumes (`-v /path`, an image's VOLUME) ask for,
parsed and checked when a container is created (a malformed one is a 400 before
anything exists), as moby's linux parser (volume/mounts/linux_parser.go) and
registerMountPoints (daemon/volumes.go) read them.

Volumes are named here as the client named them; an anonymous one has no name until
the creator makes its volume (`with_volume_names`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from pier.errors import InvalidParameter

PROPAGATIONS = frozenset({"private", "rprivate", "shared", "rshared", "slave", "rslave"})
_RW = frozenset({"rw", "ro"})
_LABELS = frozenset({"z", "Z"})
_COPY = frozenset({"nocopy"})
_CONSISTENCY = frozenset({"consistent", "cached", "delegated"})
_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_EMPTY: Mapping[str, str] = MappingProxyType({})
# moby's ParseTmpfsOptions: flags and the data options tmpfs takes.
_TMPFS_FLAGS = frozenset(
    {"ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "sync", "async",
     "dirsync", "remount", "mand", "nomand", "atime", "noatime", "diratime", "nodiratime",
     "relatime", "norelatime", "strictatime", "nostrictatime", "tmpcopyup"}
)  # fmt: skip
_TMPFS_DATA = frozenset({"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})


@dataclass(frozen=True, slots=True, kw_only=True)
class MountPoint:
    """One mount of a container: a host path (`bind`), a volume or a tmpfs."""

    source: str = ""  # bind: the host path, absolute and cleaned
    destination: str  # absolute, cleaned
    read_only: bool = False
    propagation: str = "rprivate"
    # The spec's mode part as the client wrote it (inspect's Mounts[].Mode).
    mode: str = ""
    # `-v` creates a missing source directory; `--mount type=bind` refuses one.
    create_source: bool = True
    type: str = "bind"  # "bind", "volume" or "tmpfs"
    name: str = ""  # volume: its name ("" until an anonymous one is made)
    driver: str = ""  # volume: "local"
    copy_data: bool = True  # volume: image content copied into it when it is empty
    anonymous: bool = False
    # --mount volume-opt= and volume-label=: the volume is created with them.
    volume_options: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    volume_labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    tmpfs_options: tuple[str, ...] = ()  # tmpfs: mount(8) options
    # Whether inspect's Mounts lists it (a `--tmpfs` mount is not, as dockerd).
    listed: bool = True


# The record's field held only bind mounts once; old records load as binds.
BindMount = MountPoint


def _valid_mode(mode: str) -> bool:
    if not mode:
        return True
    seen: dict[frozenset[str], int] = {}
    for option in mode.split(","):
        for group in (_RW, _LABELS, PROPAGATIONS, _COPY, _CONSISTENCY):
            if option in group:
                seen[group] = seen.get(group, 0) + 1
                break
        else:
            return False
    return all(count == 1 for count in seen.values())


def _check_target(target: str) -> str | None:
    if not target:
        return "field Target must not be empty"
    if posixpath.normpath(target) == "/":
        return "invalid specification: destination can't be '/'"
    if not target.startswith("/"):
        return f"invalid mount path: '{target}' mount path must be absolute"
    return None


def parse_bind(spec: str) -> MountPoint:
    """One `Binds` entry: `src:dst[:mode]` or `dst` (moby's ParseMountRaw)."""
    parts = spec.split(":", 3)
    if not parts[0]:
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    mode = ""
    if len(parts) == 1:
        source, target = "", parts[0]
    elif len(parts) == 2:
        if _valid_mode(parts[1]):
            raise InvalidParameter(f"invalid volume specification: '{spec}'")
        source, target = parts
    elif len(parts) == 3:
        source, target, mode = parts
    else:
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    if not _valid_mode(mode):
        raise InvalidParameter(f"invalid mode: {mode}")
    kind = "bind" if source.startswith("/") else "volume"
    problem = _check_target(target)
    if problem is not None:
        if problem.startswith("invalid mount path"):
            problem = f'invalid mount config for type "{kind}": {problem}'
        raise InvalidParameter(f"invalid volume specification: '{spec}': {problem}")
    options = mode.split(",") if mode else []
    read_only = "ro" in options
    destination = posixpath.normpath(target)
    if kind == "bind":
        if "nocopy" in options:
            raise InvalidParameter(
                f"invalid volume specification: '{spec}': invalid mount config for type "
                '"bind": field VolumeOptions must not be specified'
            )
        return MountPoint(
            source=posixpath.normpath(source),
            destination=destination,
            read_only=read_only,
            propagation=next((o for o in options if o in PROPAGATIONS), "rprivate"),
            mode=mode,
        )
    if source and not _VOLUME_NAME.match(source):
        raise InvalidParameter(
            f'create {source}: "{source}" includes invalid characters for a local '
            'volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you '
            "intended to pass a host directory, use absolute path"
        )
    if read_only and not source:
        raise InvalidParameter(
            f"invalid volume specification: '{spec}': invalid mount config for type "
            '"volume": must not set ReadOnly mode when using anonymous volumes'
        )
    return MountPoint(
        type="volume",
        name=source,
        anonymous=not source,
        destination=destination,
        read_only=read_only,
        propagation="",
        # dockerd's setBindModeIfNull: a local volume's empty mode reads "z".
        mode=mode or ("z" if source else ""),
        driver="local",
        copy_data="nocopy" not in options,
    )


def parse_binds(specs: Iterable[str]) -> tuple[MountPoint, ...]:
    return _unique([parse_bind(spec) for spec in specs])


def _unique(points: Sequence[MountPoint], taken: Iterable[str] = ()) -> tuple[MountPoint, ...]:
    seen = set(taken)
    for point in points:
        if point.destination in seen:
            raise InvalidParameter(f"Duplicate mount point: {point.destination}")
        seen.add(point.destination)
    return tuple(points)


def _mount_error(kind: str, message: str) -> InvalidParameter:
    return InvalidParameter(f'invalid mount config for type "{kind}": {message}')


def parse_mount(cfg: Mapping[str, Any]) -> MountPoint:
    """One `HostConfig.Mounts` entry (moby's ParseMountSpec)."""
    if not isinstance(cfg, Mapping):
        raise InvalidParameter("json: cannot unmarshal Mounts")
    kind = str(cfg.get("Type") or "")
    target = str(cfg.get("Target") or "")
    source = str(cfg.get("Source") or "")
    read_only = bool(cfg.get("ReadOnly"))
    bind_opts = cfg.get("BindOptions")
    volume_opts = cfg.get("VolumeOptions")
    tmpfs_opts = cfg.get("TmpfsOptions")
    if kind not in ("bind", "volume", "tmpfs"):
        if kind in ("image", "npipe", "cluster"):
            raise InvalidParameter(f'invalid mount config for type "{kind}": not supported')
        raise _mount_error(kind, "mount type unknown")
    problem = _check_target(target)
    if problem is not None:
        raise _mount_error(kind, problem)
    destination = posixpath.normpath(target)
    for name, value, allowed in (
        ("BindOptions", bind_opts, "bind"),
        ("VolumeOptions", volume_opts, "volume"),
        ("TmpfsOptions", tmpfs_opts, "tmpfs"),
    ):
        if value and kind != allowed:
            raise _mount_error(kind, f"field {name} must not be specified")
    if kind == "bind":
        if not source:
            raise _mount_error(kind, "field Source must not be empty")
        if not source.startswith("/"):
            raise _mount_error(kind, f"invalid mount path: '{source}' mount path must be absolute")
        propagation = str((bind_opts or {}).get("Propagation") or "rprivate")
        if propagation not in PROPAGATIONS:
            raise _mount_error(kind, f"invalid propagation mode: {propagation}")
        return MountPoint(
            source=posixpath.normpath(source),
            destination=destination,
            read_only=read_only,
            propagation=propagation,
            create_source=bool((bind_opts or {}).get("CreateMountpoint")),
        )
    if kind == "tmpfs":
        if source:
            raise _mount_error(kind, "field Source must not be specified")
        return MountPoint(
            type="tmpfs",
            destination=destination,
            read_only=read_only,
            propagation="",
            tmpfs_options=_tmpfs_api_options(tmpfs_opts or {}, read_only),
        )
    vopts = volume_opts or {}
    if read_only and not source:
        raise _mount_error(kind, "must not set ReadOnly mode when using anonymous volumes")
    if vopts.get("Subpath"):
        raise InvalidParameter("volume subpaths are not implemented in Pier yet")
    driver_cfg = vopts.get("DriverConfig") or {}
    return MountPoint(
        type="volume",
        name=source,
        anonymous=not source,
        destination=destination,
        read_only=read_only,
        propagation="",
        mode="z",
        driver=str(driver_cfg.get("Name") or "local"),
        copy_data=not vopts.get("NoCopy"),
        volume_options={str(k): str(v) for k, v in (driver_cfg.get("Options") or {}).items()},
        volume_labels={str(k): str(v) for k, v in (vopts.get("Labels") or {}).items()},
    )


def _tmpfs_api_options(opts: Mapping[str, Any], read_only: bool) -> tuple[str, ...]:
    """moby's ConvertTmpfsOptions: `ro`, `mode=` in octal, `size=` with the largest
    unit that divides it."""
    out = ["ro"] if read_only else []
    mode = int(opts.get("Mode") or 0)
    if mode:
        out.append(f"mode={mode:o}")
    size = int(opts.get("SizeBytes") or 0)
    if size < 0:
        raise _mount_error("tmpfs", f"invalid size: {size}")
    if size:
        for suffix, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                out.append(f"size={size // divisor}{suffix}")
                break
        else:
            out.append(f"size={size}")
    return tuple(out)


def parse_tmpfs(tmpfs: Mapping[str, str]) -> tuple[MountPoint, ...]:
    """`HostConfig.Tmpfs`: path -> "size=64m,mode=1777" (moby's ParseTmpfsOptions)."""
    out = []
    for target, options in tmpfs.items():
        problem = _check_target(target)
        if problem is not None:
            raise InvalidParameter(f"invalid tmpfs specification: {problem}")
        opts = tuple(o for o in options.split(",") if o)
        for opt in opts:
            key, eq, _ = opt.partition("=")
            if not (key in _TMPFS_DATA and eq) and opt not in _TMPFS_FLAGS:
                raise InvalidParameter(f'invalid tmpfs option ["{key}"]')
        out.append(
            MountPoint(
                type="tmpfs",
                destination=posixpath.normpath(target),
                read_only="ro" in opts,
                propagation="",
                tmpfs_options=opts,
                listed=False,
            )
        )
    return tuple(out)


def parse_volumes_from(spec: str) -> tuple[str, bool]:
    """`--volumes-from ctr[:ro|rw]` -> (container, read-only)."""
    if not spec:
        raise InvalidParameter("volumes-from specification cannot be an empty string")
    ref, _, mode = spec.partition(":")
    if mode and (not _valid_mode(mode) or set(mode.split(",")) & (PROPAGATIONS | _COPY)):
        raise InvalidParameter(f"invalid mode: {mode}")
    return ref, "ro" in mode.split(",")


@dataclass(frozen=True, slots=True, kw_only=True)
class MountRequests:
    """Every mount field of one create request."""

    binds: tuple[str, ...] = ()
    mounts: tuple[Mapping[str, Any], ...] = ()
    tmpfs: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    volumes_from: tuple[str, ...] = ()
    # Config.Volumes with the image's VOLUMEs: anonymous volumes where nothing else is.
    volumes: tuple[str, ...] = ()
    # HostConfig.VolumeDriver: the driver of `-v` and image volumes ("": local).
    volume_driver: str = ""


def plan_mounts(
    request: MountRequests, mounts_of: Callable[[str], tuple[MountPoint, ...]]
) -> tuple[MountPoint, ...]:
    """The container's mount points, in moby's order of precedence: volumes from other
    containers, overridden by binds; `Mounts` and `Tmpfs` may not repeat a bind's
    destination; anonymous volumes fill the remaining Config.Volumes paths.
    `mounts_of` gives another container's mount points (NoSuchContainer if none)."""
    points: dict[str, MountPoint] = {}
    for spec in request.volumes_from:
        ref, read_only = parse_volumes_from(spec)
        for m in mounts_of(ref):
            if m.type == "tmpfs":
                continue
            points[m.destination] = replace(
                m, read_only=m.read_only or read_only, copy_data=False, anonymous=False
            )
    binds = parse_binds(request.binds)
    if request.volume_driver not in ("", "local"):
        binds = tuple(
            replace(b, driver=request.volume_driver) if b.type == "volume" else b for b in binds
        )
    tmpfs = parse_tmpfs(request.tmpfs)
    _unique(binds, (t.destination for t in tmpfs))
    taken = {b.destination for b in binds}
    for b in binds:
        points[b.destination] = b
    for cfg in request.mounts:
        m = parse_mount(cfg)
        if m.destination in taken:
            raise InvalidParameter(f"Duplicate mount point: {cfg.get('Target')}")
        taken.add(m.destination)
        points[m.destination] = m
    for t in tmpfs:
        points[t.destination] = t
    for path in request.volumes:
        problem = _check_target(path)
        if problem is not None:
            raise InvalidParameter(f"invalid volume specification: '{path}': {problem}")
        destination = posixpath.normpath(path)
        if destination not in points:
            points[destination] = MountPoint(
                type="volume", destination=destination, anonymous=True,
                driver=request.volume_driver or "local", propagation="",
            )  # fmt: skip
    return tuple(points.values())


def sorted_for_mounting(points: Iterable[MountPoint]) -> list[MountPoint]:
    """Parents before what is mounted inside them (moby's sortMounts: by depth)."""
    return sorted(points, key=lambda m: len([p for p in m.destination.split("/") if p]))
