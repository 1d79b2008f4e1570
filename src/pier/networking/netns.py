"""Network namespaces as files: made by Pier, bind-mounted at a path, joined by path.

A namespace made this way outlives every process in it (the mount holds it), so a
container's addresses survive a pierd restart and the runtime joins it through the
OCI spec. Namespaces are per thread in Linux: `inside` switches only the calling
thread and always switches back; every function here is blocking, called from a
worker thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pier.errors import SystemFailure
from pier.snapshots.idmap import IdMapping, child_in_userns

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class UsernsOwner:
    """The user namespace a container's network namespace is made in: a new one with
    `mapping`, or the existing one at `join` (another container's)."""

    mapping: IdMapping | None = None
    join: str | None = None


class _Libc:
    def __init__(self) -> None:
        self.lib = ctypes.CDLL(None, use_errno=True)

    def check(self, result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")


_LIBC: _Libc | None = None


def _libc() -> _Libc:
    # Loaded once per process: a handle to the C library, not state of Pier's.
    global _LIBC
    if _LIBC is None:
        _LIBC = _Libc()
    return _LIBC


def _setns(fd: int) -> None:
    libc = _libc()
    libc.check(libc.lib.setns(fd, CLONE_NEWNET), "setns")


@contextlib.contextmanager
def inside(path: Path | str) -> Iterator[None]:
    """Run the body in the namespace at `path` (this thread only)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(str(path), os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            # A thread that cannot come back must not serve other work in the wrong
            # namespace: that would be a silent disaster, so fail loudly.
            _setns(home)
    finally:
        os.close(home)


def run_inside(path: Path | str, fn: Callable[[], T]) -> T:
    with inside(path):
        return fn()


def create(path: Path, *, owner: UsernsOwner | None = None) -> None:
    """A new namespace with `lo` up, bind-mounted at `path`; made in the user namespace
    `owner` describes (a remapped container's), else in pierd's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    os.close(fd)
    if owner is not None:
        _create_owned(path, owner)
        return
    libc = _libc()
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        libc.check(libc.lib.unshare(CLONE_NEWNET), "unshare")
        try:
            source = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
            libc.check(libc.lib.mount(source, str(path).encode(), b"none", MS_BIND, None), "mount")
        finally:
            _setns(home)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise SystemFailure(f"failed to create network namespace {path}: {exc}") from exc
    finally:
        os.close(home)


def _create_owned(path: Path, owner: UsernsOwner) -> None:
    # Owned by the container's user namespace, its root holds the usual capabilities
    # over it (raw sockets, sysfs, its sysctls), as in dockerd, where the runtime makes
    # a remapped container's network namespace.
    libc = _libc()
    try:
        with child_in_userns(mapping=owner.mapping, join=owner.join, net=True) as pid:
            source = f"/proc/{pid}/ns/net".encode()
            libc.check(libc.lib.mount(source, str(path).encode(), b"none", MS_BIND, None), "mount")
    except (OSError, SystemFailure) as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise SystemFailure(f"failed to create network namespace {path}: {exc}") from exc


def remove(path: Path) -> None:
    """Unmount and delete; nothing there is fine (idempotent)."""
    libc = _libc()
    libc.lib.umount2(str(path).encode(), MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def is_mounted(path: Path) -> bool:
    """Whether `path` holds a namespace (a bind mount of nsfs), not an empty file."""
    try:
        return os.stat(path).st_dev != os.stat(path.parent).st_dev
    except OSError:
        return False
