"""`--device`: the host device nodes a container gets, read at each start as moby's
DevicesFromPath does (a symlink followed, a directory walked for the nodes under it)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from pier.containers.model import DeviceMapping
from pier.errors import SystemFailure
from pier.runtime.spec import DeviceSpec


def _node(path: str, in_container: str, permissions: str) -> DeviceSpec | None:
    st = os.lstat(path)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    return DeviceSpec(
        path=in_container,
        type=kind,
        major=os.major(st.st_rdev),
        minor=os.minor(st.st_rdev),
        file_mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        permissions=permissions,
    )


def _failure(host: str, reason: str) -> SystemFailure:
    return SystemFailure(
        f'error gathering device information while adding custom device "{host}": {reason}'
    )


def _one(mapping: DeviceMapping) -> list[DeviceSpec]:
    host = mapping.path_on_host
    target = mapping.path_in_container or host
    perms = mapping.cgroup_permissions or "rwm"
    resolved = os.path.realpath(host) if os.path.islink(host) else host
    try:
        node = _node(resolved, target, perms)
    except OSError as exc:
        raise _failure(host, (exc.strerror or str(exc)).lower()) from None
    if node is not None:
        return [node]
    found: list[DeviceSpec] = []
    if os.path.isdir(resolved):
        # as moby: the first occurrence of the host directory in each path is replaced
        for dirpath, _dirs, files in os.walk(resolved):
            for name in files:
                child = os.path.join(dirpath, name)
                try:
                    node = _node(child, child.replace(resolved, target, 1), perms)
                except OSError:
                    continue  # moby skips what it cannot read
                if node is not None:
                    found.append(node)
    if not found:
        raise _failure(host, "not a device node")
    return found


def resolve_devices(mappings: Iterable[DeviceMapping]) -> tuple[DeviceSpec, ...]:
    """The nodes to create for `mappings`, in order; a mapping that names no device node
    fails the start with dockerd's wording (a 500, as dockerd's createSpec errors)."""
    return tuple(d for m in mappings for d in _one(m))
