"""Reading and making files inside a container's root file system, from the host.

An image is hostile until proven otherwise: its `/etc/passwd` may be a symlink to the
host's, a device (`/dev/zero`: endless), a FIFO (an open that never returns), or huge.
So paths are resolved with `openat2(RESOLVE_IN_ROOT)`, which the kernel confines to
the root (absolute symlinks and `..` stay inside it, as they would in the container),
files are opened non-blocking and read only when they are regular files, and reads
are bounded. Kernels before 5.6 lack openat2: there every component is walked by
hand with O_NOFOLLOW, symlinks resolved against the root.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from pier.errors import InvalidParameter

MAX_CONFIG_FILE = 16 * 1024 * 1024  # /etc/passwd, /etc/group: far above any real one
_SYS_OPENAT2 = 437  # the same number on every architecture (asm-generic)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_MAX_HOPS = 40


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _openat2(root_fd: int, path: str, flags: int) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(
        _SYS_OPENAT2,
        ctypes.c_int(root_fd),
        ctypes.c_char_p(os.fsencode(path.lstrip("/") or ".")),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def _walk(root: Path, path: str) -> str:
    """The host path of `path` in `root`, symlinks resolved inside the root (the
    fallback for kernels without openat2); the last component is not followed."""
    current = ""
    parts = [p for p in path.split("/") if p and p != "."]
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.rpartition("/")[0]
            continue
        candidate = f"{current}/{part}"
        full = str(root) + candidate
        if parts and os.path.islink(full):
            hops += 1
            if hops > _MAX_HOPS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            target = os.readlink(full)
            if target.startswith("/"):
                current = ""
            parts = [p for p in target.split("/") if p] + parts
            continue
        current = candidate
    return str(root) + (current or "/")


@contextlib.contextmanager
def open_in_root(root: Path, path: str, flags: int) -> Iterator[int]:
    """A file descriptor for `path` resolved inside `root`."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = _openat2(root_fd, path, flags)
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EPERM):  # EPERM: seccomp'd away
                raise
            fd = os.open(_walk(root, path), flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    finally:
        os.close(root_fd)
    try:
        yield fd
    finally:
        os.close(fd)


def read_config_file(root: Path, path: str, limit: int = MAX_CONFIG_FILE) -> str | None:
    """A regular file of the container's root as text; None when it does not exist or
    is not a regular file (a device, a FIFO, a directory: never read). A file larger
    than `limit` is refused."""
    try:
        with open_in_root(root, path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY) as fd:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return None
            if info.st_size > limit:
                raise InvalidParameter(
                    f"{path} in the container's image is larger than {limit} bytes"
                )
            data = os.read(fd, limit + 1)
    except OSError:
        return None
    if len(data) > limit:  # grew while we read it
        raise InvalidParameter(f"{path} in the container's image is larger than {limit} bytes")
    return data.decode(errors="replace")


def make_dirs_in_root(root: Path, path: str, uid: int, gid: int) -> None:
    """`mkdir -p` of `path` inside `root`, new directories owned by uid:gid (Docker
    makes a missing WORKDIR for the container's user). Symlinks on the way resolve
    inside the root, so nothing is made on the host."""
    parts = [p for p in path.split("/") if p and p != "."]
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        try:
            with open_in_root(root, prefix, os.O_PATH | os.O_DIRECTORY):
                continue
        except FileNotFoundError:
            pass
        except NotADirectoryError:
            raise InvalidParameter(
                f"the working directory {path} is not a directory in the container"
            ) from None
        with open_in_root(root, "/".join(parts[: i - 1]), os.O_PATH | os.O_DIRECTORY) as parent:
            try:
                os.mkdir(parts[i - 1], 0o755, dir_fd=parent)
            except FileExistsError:  # a dangling symlink
                raise InvalidParameter(
                    f"the working directory {path} is a dangling symlink in the container"
                ) from None
            with open_in_root(root, prefix, os.O_RDONLY | os.O_DIRECTORY) as made:
                os.fchown(made, uid, gid)
