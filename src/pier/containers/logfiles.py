"""Rotating a container's log into several files, with conmon writing them.

conmon writes the k8s-file log and, asked through its control FIFO, starts a new
file: it creates `<log>.tmp` and renames it over `<log>`, which drops the old file
(conmon keeps one file). Pier keeps the old ones: `<log>.0` is a hard link to the
current file, made before the container starts and again after each rotation, so
when conmon renames a new file over `<log>` the old content lives on as `<log>.0`.
The rotator checks the running containers' logs four times a second: a file that
reached `max-size` is cut (conmon asked to reopen); a `<log>.0` that is no longer the
current file is shifted into the generations (`.0` becomes `.1`, `.1` becomes `.2`...,
the oldest beyond `max-file` goes, `.1` is gzipped when `compress`) and the new file
linked as `.0`. Nothing is lost to a rotation; a file can pass `max-size` by what the
container writes in a quarter of a second.

conmon's own `--log-size-max` is set to twice `max-size`, a backstop: while pierd is
down (the logs keep flowing) conmon still cuts, `.0` keeps the generation current when
pierd stopped, later ones are dropped, so the disk stays bounded; at its next start
pierd shifts what it finds. `containers.logs` reads all the files in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pier import timefmt
from pier.containers import logconfig
from pier.containers.model import Container
from pier.containers.store import ContainerStore
from pier.errors import PierError
from pier.events import EventBus, EventFilter

log = logging.getLogger(__name__)


def policy_of(record: Container) -> logconfig.LogPolicy:
    hc = record.host_config
    return logconfig.policy(hc.log_type, hc.log_opts)


class LogFiles:
    """The files of each container's log; blocking calls (a thread's)."""

    def __init__(self, *, log_path: Callable[[str], Path]) -> None:
        self._log_path = log_path
        self._lock = threading.Lock()

    def prepare(self, cid: str, policy: logconfig.LogPolicy) -> None:
        """Before the container's monitor starts: a full log is rotated now (conmon
        counts its file from empty), and `.0` is linked to the current file."""
        path = self._log_path(cid)
        with self._lock:
            if not policy.keeps_rotated:
                return
            self._shift_if_rotated(path, policy)
            assert policy.max_size is not None
            if path.exists() and path.stat().st_size >= policy.max_size:
                self._link_zero(path)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                self._shift_if_rotated(path, policy)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            os.close(fd)
            self._link_zero(path)

    def full(self, cid: str, policy: logconfig.LogPolicy) -> int | None:
        """The inode of the current file when it has reached the size to cut it at
        (and `.0` keeps it), else None."""
        path = self._log_path(cid)
        assert policy.max_size is not None
        try:
            st = path.stat()
            if st.st_size >= policy.max_size and os.path.samefile(_numbered(path, 0), path):
                return st.st_ino
        except FileNotFoundError:
            pass
        return None

    def wait_replaced(self, cid: str, inode: int, timeout: float = 0.5) -> bool:
        """Wait (a thread's wait) until the log's path names another file than
        `inode`; False if it did not within `timeout` seconds."""
        path = self._log_path(cid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if path.stat().st_ino != inode:
                    return True
            except FileNotFoundError:
                pass
            time.sleep(0.002)
        return False

    def rotate(self, cid: str, policy: logconfig.LogPolicy) -> bool:
        """After conmon renamed a new file over the log: shift the generations and
        link the new file. True if a generation was shifted."""
        path = self._log_path(cid)
        with self._lock:
            shifted = self._shift_if_rotated(path, policy)
            if path.exists():
                self._link_zero(path)
            return shifted

    def _shift_if_rotated(self, path: Path, policy: logconfig.LogPolicy) -> bool:
        zero = _numbered(path, 0)
        try:
            if not zero.exists() or (path.exists() and os.path.samefile(zero, path)):
                return False
        except FileNotFoundError:
            return False
        keep = max(policy.max_file - 1, 0)  # rotated files besides the current one
        for n in range(keep, 0, -1):
            for suffix in ("", ".gz"):
                src = Path(str(_numbered(path, n)) + suffix)
                if not src.exists():
                    continue
                if n == keep:
                    src.unlink()
                else:
                    src.replace(Path(str(_numbered(path, n + 1)) + suffix))
        if keep:
            zero.replace(_numbered(path, 1))
            if policy.compress:
                _compress(_numbered(path, 1))
        else:
            zero.unlink()
        return True

    @staticmethod
    def _link_zero(path: Path) -> None:
        zero = _numbered(path, 0)
        try:
            if zero.exists() and os.path.samefile(zero, path):
                return
        except FileNotFoundError:
            return
        tmp = Path(str(zero) + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            os.link(path, tmp)
        except FileNotFoundError:
            return
        tmp.replace(zero)


def _numbered(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


def _compress(path: Path) -> None:
    """`path` -> `path.gz`, written aside and renamed, then `path` removed."""
    tmp = Path(str(path) + ".gz.tmp")
    with open(path, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    tmp.replace(Path(str(path) + ".gz"))
    path.unlink()


class LogReopener(Protocol):
    def reopen_log(self, cid: str) -> bool: ...


POLL_INTERVAL = 0.25  # seconds between checks of the running containers' logs


class LogRotator:
    """Cuts and shifts the logs of the running containers that keep several files;
    follows start and destroy events to know which."""

    def __init__(
        self,
        *,
        store: ContainerStore,
        events: EventBus,
        files: LogFiles,
        monitor: LogReopener,
    ) -> None:
        self._store = store
        self._events = events
        self._files = files
        self._monitor = monitor
        self._watched: dict[str, logconfig.LogPolicy] = {}
        # The file each container was last asked to leave: asked once, as conmon would
        # drop the file it just made if asked again before it has renamed it in.
        self._cut: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._live: set[str] = set()

    async def start(self) -> None:
        ready = asyncio.Event()
        self._tasks.append(asyncio.create_task(self._follow(ready), name="log-rotator-events"))
        await ready.wait()
        for record in list(self._store):
            if record.state.started_at != timefmt.ZERO:
                self._watch(record)
        # What conmon cut while no pierd ran is shifted before the API answers.
        await asyncio.to_thread(self._check, dict(self._watched))
        self._tasks.append(asyncio.create_task(self._poll(), name="log-rotator"))

    async def _follow(self, ready: asyncio.Event) -> None:
        wanted = EventFilter({"type": ["container"], "event": ["start", "destroy"]})
        stream = self._events.subscribe(filter=wanted)
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)  # the subscription exists once the generator has begun
        ready.set()
        try:
            event = await first
            while True:
                if event.action == "start":
                    record = self._store.find(event.actor_id)
                    if record is not None:
                        self._watch(record)
                else:
                    self._watched.pop(event.actor_id, None)
                    self._cut.pop(event.actor_id, None)
                event = await anext(stream)
        except StopAsyncIteration:
            return
        finally:
            await stream.aclose()

    def _watch(self, record: Container) -> None:
        try:
            policy = policy_of(record)
        except PierError:  # options an earlier version did not check
            return
        if policy.keeps_rotated:
            self._watched[record.id] = policy

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            work = {}
            for cid, policy in list(self._watched.items()):
                record = self._store.find(cid)
                if record is None:
                    self._watched.pop(cid, None)
                elif record.state.has_process or record.state.restarting or cid in self._live:
                    # One more look after the exit: the last cut may wait to be shifted.
                    work[cid] = policy
            self._live = {
                cid for cid in work if (r := self._store.find(cid)) and r.state.has_process
            }
            if work:
                try:
                    await asyncio.to_thread(self._check, work)
                except Exception:
                    log.exception("checking the logs for rotation failed")

    def _check(self, work: dict[str, logconfig.LogPolicy]) -> None:
        for cid, policy in work.items():
            try:
                self._files.rotate(cid, policy)
                inode = self._files.full(cid, policy)
                ask = inode is not None and self._cut.get(cid) != inode
                if ask and inode is not None and self._monitor.reopen_log(cid):
                    self._cut[cid] = inode
                    # The new file is linked as soon as conmon has renamed it in: until
                    # then a cut of conmon's own (whose count of bytes our cuts do not
                    # reset) would drop it.
                    if self._files.wait_replaced(cid, inode):
                        self._files.rotate(cid, policy)
            except (OSError, PierError) as exc:
                log.warning("rotating the log of %s: %s", cid[:12], exc)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
