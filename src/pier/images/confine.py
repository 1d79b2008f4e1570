"""Paths confined to a root: directories opened with openat2 RESOLVE_IN_ROOT (a
symlink on the way resolves inside the root, as under Docker's chroot) and entry names
that may not leave it."""

from __future__ import annotations

import ctypes
import functools
import os
import posixpath
from collections.abc import Callable

from pier.errors import InvalidParameter

_SYS_OPENAT2 = 437  # same number on x86_64 and aarch64
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


@functools.cache
def _syscall() -> Callable[..., int]:
    libc = ctypes.CDLL(None, use_errno=True)
    fn: Callable[..., int] = libc.syscall
    return fn


def openat2_dir(root_fd: int, rel: str) -> int:
    how = _OpenHow(
        flags=os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC,
        mode=0,
        resolve=_RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS,
    )
    fd = _syscall()(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_int(root_fd),
        ctypes.c_char_p(os.fsencode(rel)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), rel)
    return fd


def clean(name: str) -> str:
    """The entry name relative to the root; breakout error when it leaves the root."""
    joined = posixpath.normpath(posixpath.join("/", name))
    # normpath of an absolute path cannot contain "..": check the raw name lexically, as
    # Docker's Rel(dest, Join(dest, name)) check does.
    rel = posixpath.normpath(name.lstrip("/")) if name.strip("/") else "."
    if rel == ".." or rel.startswith("../"):
        raise InvalidParameter(f"invalid layer tar: {name!r} is outside of the root (breakout)")
    return joined.lstrip("/") or "."


def proc(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def rmtree_at(dfd: int, name: str) -> None:
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    try:
        for entry in os.scandir(fd):
            if entry.is_dir(follow_symlinks=False):
                rmtree_at(fd, entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dfd)
