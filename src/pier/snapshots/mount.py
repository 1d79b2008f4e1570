"""mount_all / unmount through the mount(2) and umount2(2) system calls.

ctypes rather than a `mount` subprocess: it costs microseconds instead of a fork+exec,
and errors come back as errno values we can reason about.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import time
from collections.abc import Sequence
from pathlib import Path

from pier.errors import SystemFailure
from pier.snapshots.types import Mount

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2

# Option -> (flags to set, flags to clear); anything else is filesystem data.
_FLAGS: dict[str, tuple[int, int]] = {
    "ro": (MS_RDONLY, 0),
    "rw": (0, MS_RDONLY),
    "nosuid": (MS_NOSUID, 0),
    "suid": (0, MS_NOSUID),
    "nodev": (MS_NODEV, 0),
    "dev": (0, MS_NODEV),
    "noexec": (MS_NOEXEC, 0),
    "exec": (0, MS_NOEXEC),
    "bind": (MS_BIND, 0),
    "rbind": (MS_BIND | MS_REC, 0),
}


class _Libc:
    def __init__(self) -> None:
        lib = ctypes.CDLL(None, use_errno=True)
        self.mount = lib.mount
        self.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        ]
        self.umount2 = lib.umount2
        self.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


@functools.cache
def _libc() -> _Libc:
    # libc is process-wide anyway; loading it once is not hidden state.
    return _Libc()


def parse_options(options: Sequence[str]) -> tuple[int, str]:
    flags = 0
    data: list[str] = []
    for opt in options:
        if opt in _FLAGS:
            on, off = _FLAGS[opt]
            flags = (flags | on) & ~off
        else:
            data.append(opt)
    return flags, ",".join(data)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str) -> None:
    rc = _libc().mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise SystemFailure(
            f"failed to mount {source} on {target} ({fstype or 'bind'}, {data}): {os.strerror(err)}"
        )


def mount_one(m: Mount, target: Path) -> None:
    flags, data = parse_options(m.options)
    if flags & MS_BIND:
        _mount(m.source, str(target), None, flags & ~MS_RDONLY, "")
        if flags & MS_RDONLY:
            # A bind mount ignores MS_RDONLY on creation; it takes a remount to apply.
            try:
                _mount("", str(target), None, flags | MS_REMOUNT, "")
            except BaseException:
                unmount(target)
                raise
    else:
        _mount(m.source, str(target), m.type, flags, data)


def remount_read_only(target: Path) -> None:
    """Make the bind mount whose root `target` is read-only (a magic /proc/self/fd
    link must be opened after the bind, or it names the directory underneath)."""
    _mount("", str(target), None, MS_BIND | MS_REMOUNT | MS_RDONLY, "")


def mount_all(mounts: Sequence[Mount], target: Path) -> None:
    """Mount each in order on `target`; on failure undo what was mounted."""
    done = 0
    try:
        for m in mounts:
            mount_one(m, target)
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target, all_layers=False)
        raise


def unmount(target: Path, *, all_layers: bool = True, retries: int = 10) -> None:
    """Unmount `target` (every mount stacked on it when `all_layers`). Unmounting what is not
    mounted is not an error; a target that stays busy is detached lazily."""
    path = str(target).encode()
    libc = _libc()
    attempt = 0
    while True:
        if libc.umount2(path, 0) == 0:
            attempt = 0
            if all_layers:
                continue
            return
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return
        if err == errno.EBUSY:
            attempt += 1
            if attempt < retries:
                time.sleep(0.01 * attempt)
                continue
            if libc.umount2(path, MNT_DETACH) == 0:
                if all_layers:
                    attempt = 0
                    continue
                return
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT):
                return
        raise SystemFailure(f"failed to unmount {target}: {os.strerror(err)}")
