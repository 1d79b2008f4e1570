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
import queue
import threading
from collections import deque
from collections.abc import Callable
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


class _Job:
    """One file handed to the workers, and what became of it."""

    __slots__ = ("cancelled", "created", "done", "error", "file")

    def __init__(self, f: SmallFile) -> None:
        self.file = f
        self.done = False
        self.created = False
        self.error: BaseException | None = None
        self.cancelled = False


class Writers:
    """A small pool creating files concurrently, with the ordering rules above.
    Owned by one applier, used from its reading thread only; `close` joins it.

    Its own threads and one condition rather than an executor: a layer hands over
    thousands of files, and a Future (with a condition of its own) per file was a
    measurable share of the reading thread's time."""

    def __init__(self, workers: int) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._pending: deque[_Job] = deque()
        self._pending_bytes = 0
        # (directory inode, name) of every name this layer wrote or handed to a worker
        self._seen: set[tuple[int, str]] = set()
        self._threads = [
            threading.Thread(target=self._work, name=f"unpack-write_{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if not job.cancelled:
                try:
                    job.created = write_small(job.file)
                except BaseException as exc:  # the reading thread's to raise
                    job.error = exc
            with self._cond:
                job.done = True
                self._cond.notify_all()

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
        job = _Job(f)
        self._pending.append(job)
        self._pending_bytes += len(f.data)
        self._jobs.put(job)

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
        job = self._pending.popleft()
        self._pending_bytes -= len(job.file.data)
        if not job.done:
            with self._cond:
                while not job.done:
                    self._cond.wait()
        if job.error is not None:
            raise job.error
        if not job.created:
            redo(job.file)

    def close(self) -> None:
        """Stop: skip what has not started, wait for what has (errors are the
        caller's to have seen through `drain`)."""
        for job in self._pending:
            job.cancelled = True
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._pending.clear()
