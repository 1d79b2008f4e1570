"""Concurrent creation of a layer's small files.

Creating an inode on this disk costs far more than the Python around it (DESIGN §11),
and the kernel's create path runs while the GIL is released: a few threads creating
files at once finish a layer sooner than one, and keep the tar reader busy meanwhile.

Only new names go to the workers: an entry whose (directory, name) was met earlier in
the layer waits for everything pending first, so that the last entry of a name still
wins; so does any operation that removes or links (whiteouts, replacements, hard links)
or closes the directory descriptors the workers use. A worker that finds its name taken
anyway (a directory made implicitly for a deeper entry) hands the entry back, and it is
redone in order on the reading thread.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

# Files up to this size are read into memory and handed to a worker; larger ones are
# written by the reading thread as they stream in.
SMALL_FILE = 1 << 20
_MAX_PENDING_BYTES = 32 << 20
_MAX_PENDING = 512
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True, kw_only=True)
class SmallFile:
    """A regular file entry, data in hand, or a symlink (`linkname`), to create under
    the directory `dfd`."""

    dfd: int
    name: str
    data: bytes
    uid: int
    gid: int
    mode: int
    mtime_ns: int
    xattrs: tuple[tuple[str, bytes], ...]
    # False when creation gives the file its owner or its mode already (the applier
    # knows when): a syscall less each, on a layer of thousands of files.
    chown: bool = True
    chmod: bool = True
    linkname: str | None = None

    @property
    def create_mode(self) -> int:
        return 0o600 if self.chmod else self.mode


def write_small(f: SmallFile) -> bool:
    """Create and fill `f`; False when its name exists already (nothing was written)."""
    if f.linkname is not None:
        try:
            os.symlink(f.linkname, f.name, dir_fd=f.dfd)
        except FileExistsError:
            return False
        finish_link(f)
        return True
    try:
        fd = os.open(f.name, _FLAGS, f.create_mode, dir_fd=f.dfd)
    except FileExistsError:
        return False
    try:
        fill(fd, f)
    finally:
        os.close(fd)
    return True


def fill(fd: int, f: SmallFile) -> None:
    view = memoryview(f.data)
    while view:
        view = view[os.write(fd, view) :]
    if f.chown:
        os.fchown(fd, f.uid, f.gid)
    if f.chmod:
        os.fchmod(fd, f.mode)
    for key, value in f.xattrs:
        os.setxattr(fd, key, value)
    os.utime(fd, ns=(f.mtime_ns, f.mtime_ns))


def finish_link(f: SmallFile) -> None:
    """Owner, xattrs and times of the symlink `f` just made (a symlink has no mode)."""
    if f.chown:
        os.chown(f.name, f.uid, f.gid, dir_fd=f.dfd, follow_symlinks=False)
    for key, value in f.xattrs:
        os.setxattr(f"/proc/self/fd/{f.dfd}/{f.name}", key, value, follow_symlinks=False)
    os.utime(f.name, ns=(f.mtime_ns, f.mtime_ns), dir_fd=f.dfd, follow_symlinks=False)


class Writers:
    """A small pool creating files concurrently, with the ordering rules above.
    Owned by one applier, used from its reading thread only; `close` joins it."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="unpack-write")
        self._pending: deque[tuple[Future[bool], SmallFile]] = deque()
        self._pending_bytes = 0
        # (directory inode, name) of every name this layer wrote or handed to a worker
        self._seen: set[tuple[int, str]] = set()

    def seen(self, key: tuple[int, str]) -> bool:
        return key in self._seen

    def mark(self, key: tuple[int, str]) -> None:
        self._seen.add(key)

    def submit(self, key: tuple[int, str], f: SmallFile, redo: Callable[[SmallFile], None]) -> None:
        """Create `f` on a worker (`redo` creates it in order if its name was taken)."""
        while self._pending and (
            self._pending_bytes + len(f.data) > _MAX_PENDING_BYTES
            or len(self._pending) >= _MAX_PENDING
        ):
            self._settle_oldest(redo)
        self._seen.add(key)
        self._pending.append((self._pool.submit(write_small, f), f))
        self._pending_bytes += len(f.data)

    def drain(self, redo: Callable[[SmallFile], None]) -> None:
        """Wait for every pending file; the first failure is raised once all are done."""
        error: BaseException | None = None
        while self._pending:
            try:
                self._settle_oldest(redo)
            except BaseException as exc:
                error = error or exc
        if error is not None:
            raise error

    def _settle_oldest(self, redo: Callable[[SmallFile], None]) -> None:
        future, f = self._pending.popleft()
        self._pending_bytes -= len(f.data)
        if not future.result():
            redo(f)

    def close(self) -> None:
        """Stop: cancel what has not started, wait for what has (errors are the
        caller's to have seen through `drain`)."""
        for future, _ in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)
        self._pending.clear()
