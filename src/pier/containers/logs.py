"""Reading a container's log back as Docker's json-file driver would serve it.

conmon writes k8s-file lines: `<RFC3339Nano with offset> stdout|stderr F|P <data>`,
a `P` record being a piece of a line that continues in the next record. A Docker log
message is a whole line (with its newline) or the last piece of output without one.
Following uses inotify, so a reader sees new output as soon as conmon writes it.
"""

from __future__ import annotations

import asyncio
import ctypes
import gzip
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from pier import timefmt
from pier.containers.logbulk import MARKERS, whole_chunk

STDOUT, STDERR = 1, 2
_STREAMS = {b"stdout": STDOUT, b"stderr": STDERR}


@dataclass(frozen=True, slots=True, kw_only=True)
class LogOptions:
    stdout: bool = True
    stderr: bool = True
    follow: bool = False
    timestamps: bool = False
    since_ns: int | None = None
    until_ns: int | None = None
    tail: int | None = None  # None = all
    details: bool = False  # the log's attributes before each message (containers.logattrs)


@dataclass(frozen=True, slots=True)
class LogRecord:
    raw_time: bytes
    stream: int
    data: bytes
    # conmon stamps a whole read, so several lines can share a time; Docker stamps
    # each line. The n-th line of one stamp is placed n nanoseconds after it, so every
    # line has its own monotonic time for `--timestamps` and since/until alike.
    seq: int = 0
    # `data` holds many messages, each ending in a newline but perhaps the last (a
    # chunk read whole: containers.logbulk); such a record has no time.
    many: bool = False

    @property
    def time_ns(self) -> int:
        return _time_ns(self.raw_time) + self.seq

    @property
    def time(self) -> str:
        """RFC 3339 in UTC with nanoseconds, as Docker prints `--timestamps`."""
        return timefmt.format_ns(self.time_ns, fixed=True)


def _time_ns(raw: bytes) -> int:
    return timefmt.parse_ns(raw.decode())


class _Joiner:
    """Turns k8s-file lines into Docker messages (joining `P` pieces); `raw` passes
    each piece on as it comes, for attach, where a prompt without a newline must show
    at once."""

    def __init__(self, *, raw: bool = False) -> None:
        self._raw = raw
        self._pending: dict[int, list[bytes]] = {}
        self._last_time = b""
        self._seq = 0

    def feed(self, line: bytes) -> LogRecord | None:
        try:
            raw_time, stream_name, flag, data = line.split(b" ", 3)
        except ValueError:
            parts = line.split(b" ", 3)
            if len(parts) != 3:
                return None
            raw_time, stream_name, flag = parts
            data = b""
        stream = _STREAMS.get(stream_name)
        if stream is None:
            return None
        if flag == b"P":
            if self._raw:
                return LogRecord(raw_time, stream, data) if data else None
            self._pending.setdefault(stream, []).append(data)
            return None
        pieces = self._pending.pop(stream, None)
        if pieces:
            data = b"".join(pieces) + data
        if raw_time == self._last_time:
            self._seq += 1
        else:
            self._last_time, self._seq = raw_time, 0
        return LogRecord(raw_time, stream, data + b"\n", self._seq)

    @property
    def pending(self) -> bool:
        """Pieces of a line wait for their end."""
        return any(self._pending.values())

    def flush(self) -> Iterator[LogRecord]:
        """At the end of the container's output: the last line without a newline."""
        for stream, pieces in self._pending.items():
            if pieces:
                yield LogRecord(_now_raw(), stream, b"".join(pieces))
        self._pending.clear()


def _now_raw() -> bytes:
    return timefmt.format_ns(time.time_ns(), fixed=True).encode()


def _tail_offset(f: os.PathLike[str] | str, lines: int) -> int:
    """The offset from which the file holds its last `lines` lines (read backwards)."""
    return _tail_start(f, lines)[0]


def _tail_start(f: os.PathLike[str] | str, lines: int) -> tuple[int, int]:
    """(offset, lines found): where the file's last `lines` lines start, or 0 and how
    many it holds when it has fewer."""
    if lines <= 0:
        return os.path.getsize(f), 0
    with open(f, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        pos = end
        count = 0
        block = 65536
        while pos > 0:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            chunk = fh.read(step)
            if pos + step == end and chunk.endswith(b"\n"):
                chunk = chunk[:-1]
            idx = len(chunk)
            while True:
                idx = chunk.rfind(b"\n", 0, idx)
                if idx < 0:
                    break
                count += 1
                if count >= lines:
                    return pos + idx + 1, count
        return 0, count + (1 if end else 0)


def _gz_lines(path: Path) -> list[bytes]:
    with gzip.open(path, "rb") as fh:
        return fh.read().splitlines(keepends=True)


def rotated_files(path: Path) -> list[Path]:
    """The files rotation left beside the log at `path`, oldest first: `<log>.N[.gz]`
    down to `<log>.1[.gz]`, then `<log>.0` when it is not the current file (the hard
    link that keeps a generation conmon rotated away; see containers.logfiles)."""
    prefix = path.name + "."
    found: dict[int, Path] = {}
    try:
        entries = list(os.scandir(path.parent))
    except FileNotFoundError:
        return []
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        rest = entry.name[len(prefix) :]
        number = rest[:-3] if rest.endswith(".gz") else rest
        if number.isdigit():
            n = int(number)
            # During a compression both may exist for a moment: the plain one is whole.
            if n not in found or not rest.endswith(".gz"):
                found[n] = Path(entry.path)
    out = [found[n] for n in sorted(found, reverse=True) if n > 0]
    zero = found.get(0)
    if zero is not None:
        try:
            if not os.path.samefile(zero, path):
                out.append(zero)
        except FileNotFoundError:
            out.append(zero)
    return out


_CHUNK = 4 << 20  # bytes read at a time: bounds memory whatever the log's size


class LogFile:
    """Reads records from an offset; remembers where the last complete line ended.

    The file stays open between reads, so a follower survives a rotation: at the end
    of the file it checks whether the path now names another file (conmon's reopen
    renames a new one over it), reads what is left of the old one and goes on with
    the new one from its start. A `.gz` file (a compressed rotation) is read whole."""

    def __init__(
        self,
        path: Path,
        offset: int = 0,
        *,
        raw: bool = False,
        joiner: _Joiner | None = None,
        bulk: bool = False,
    ) -> None:
        self.path = path
        self.offset = offset
        self._joiner = joiner or _Joiner(raw=raw)
        # Whole chunks of one stream become one record (see _bulk): for readers that
        # want the bytes only, not each line's time (see containers.logbulk).
        self._bulk = bulk
        self._fh: IO[bytes] | None = None
        self._inode: tuple[int, int] | None = None
        self._final = False  # the open file was renamed away: read it out, then switch

    def open(self) -> IO[bytes] | None:
        if self._fh is None:
            try:
                if self.path.name.endswith(".gz"):
                    self._fh = cast(IO[bytes], gzip.open(self.path, "rb"))  # noqa: SIM115
                    self._inode = None
                else:
                    self._fh = open(self.path, "rb")  # noqa: SIM115 - kept open between reads
                    st = os.fstat(self._fh.fileno())
                    self._inode = (st.st_dev, st.st_ino)
            except FileNotFoundError:
                return None
        return self._fh

    def _replaced(self) -> bool:
        """The path names another file than the one open (a rotation)."""
        if self._inode is None:
            return False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino) != self._inode

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __del__(self) -> None:
        # Readers that never call close (attach, build steps) hold it until dropped.
        self.close()

    def read_chunk(self, limit: int = _CHUNK) -> tuple[list[LogRecord], bool]:
        """The records in the next `limit` bytes (blocking: run it in a thread), and
        whether the file may hold more complete lines after them."""
        fh = self.open()
        if fh is None:
            return [], False
        if self._inode is not None and os.fstat(fh.fileno()).st_size < self.offset:
            self.offset = 0  # truncated in place
        fh.seek(self.offset)
        data = fh.read(limit)
        full = len(data) == limit
        while full and b"\n" not in data:  # a line longer than the limit
            more = fh.read(limit)
            full = len(more) == limit
            data += more
        end = data.rfind(b"\n")
        if end < 0:
            if not data and self._final:
                # All of the old file is read: go on with the new one.
                self.close()
                self.offset = 0
                self._final = False
                return [], True
            if not data and self._replaced():
                # Renamed away: what it holds now is all it will hold (conmon writes
                # to the new file after the rename), but some may have come since the
                # read above: one more read, then the new file.
                self._final = True
                return [], True
            return [], False
        self.offset += end + 1
        if self._bulk and not self._joiner.pending:
            for marker, stream in MARKERS:
                payload = whole_chunk(data[:end], marker)
                if payload is not None:
                    again = full or (self._inode is not None and self._replaced())
                    return [LogRecord(b"", stream, payload, many=True)], again
        out = []
        for line in data[:end].split(b"\n"):
            record = self._joiner.feed(line)
            if record is not None:
                out.append(record)
        return out, full or (self._inode is not None and self._replaced())

    async def batches(self) -> AsyncIterator[list[LogRecord]]:
        """Every complete record written so far, a chunk at a time, read off the loop."""
        while True:
            records, more = await asyncio.to_thread(self.read_chunk)
            if records:
                yield records
            if not more:
                return

    def flush(self) -> list[LogRecord]:
        return list(self._joiner.flush())


class _Inotify:
    """A minimal inotify watch on one file, readable from the event loop."""

    IN_MODIFY = 0x2
    IN_CLOSE_WRITE = 0x8
    IN_MOVED_TO = 0x80
    IN_CREATE = 0x100
    IN_NONBLOCK = 0o4000
    IN_CLOEXEC = 0o2000000

    def __init__(self, path: Path) -> None:
        # The process's own symbols (libc's among them): find_library would run
        # `ldconfig -p`, a process on the event loop at every attach and `logs -f`.
        libc = ctypes.CDLL(None, use_errno=True)
        self._fd = libc.inotify_init1(self.IN_NONBLOCK | self.IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        # Watch the directory: the log file may not exist yet when a reader starts.
        wd = libc.inotify_add_watch(
            self._fd,
            str(path.parent).encode(),
            self.IN_MODIFY | self.IN_CLOSE_WRITE | self.IN_CREATE | self.IN_MOVED_TO,
        )
        if wd < 0:
            err = ctypes.get_errno()
            os.close(self._fd)
            raise OSError(err, f"inotify_add_watch {path.parent}")
        self.changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(self._fd, self._on_event)

    def _on_event(self) -> None:
        try:
            while os.read(self._fd, 4096):
                pass
        except BlockingIOError:
            pass
        self.changed.set()

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._fd)
        # Closing an inotify instance waits for the kernel's fsnotify grace period
        # (0.3-1 ms here, at the end of every attach): not on the event loop. The
        # default executor is joined when the engine closes.
        loop.run_in_executor(None, os.close, self._fd)


async def follow(
    log: LogFile, *, ended: Callable[[], bool], ended_event: asyncio.Event
) -> AsyncIterator[list[LogRecord]]:
    """Batches of records from `log` as they are written, until the run has ended
    (`ended()` or `ended_event`) and the file is drained."""
    watch = _Inotify(log.path)
    try:
        while True:
            watch.changed.clear()
            async for batch in log.batches():
                yield batch
            if ended() or ended_event.is_set():
                async for batch in log.batches():
                    yield batch
                rest = log.flush()
                if rest:
                    yield rest
                return
            changed = asyncio.ensure_future(watch.changed.wait())
            stop = asyncio.ensure_future(ended_event.wait())
            try:
                await asyncio.wait(
                    {changed, stop}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                changed.cancel()
                stop.cancel()
    finally:
        watch.close()


async def read_logs(
    path: Path,
    options: LogOptions,
    *,
    running: Callable[[], bool],
    ended_event: asyncio.Event,
) -> AsyncIterator[list[LogRecord]]:
    """Docker's GET /containers/{id}/logs over a k8s-file log and the files rotation
    left beside it, in batches of records (so a reader can write them out in few large
    writes)."""
    joiner = _Joiner()
    keep_all = (
        options.stdout and options.stderr and options.since_ns is None and options.until_ns is None
    )
    # Without times to print or compare, or attributes to put before each message,
    # records need not be lines.
    bulk = keep_all and not options.timestamps and not options.details
    readers = await asyncio.to_thread(_open_readers, path, options.tail, joiner, bulk)

    def wanted(record: LogRecord) -> bool:
        if record.stream == STDOUT and not options.stdout:
            return False
        if record.stream == STDERR and not options.stderr:
            return False
        if options.since_ns is not None or options.until_ns is not None:
            ns = record.time_ns
            if options.since_ns is not None and ns < options.since_ns:
                return False
            if options.until_ns is not None and ns > options.until_ns:
                return False
        return True

    def select(batch: list[LogRecord]) -> list[LogRecord]:
        return batch if keep_all else [r for r in batch if wanted(r)]

    try:
        for reader in readers[:-1]:
            async for batch in reader.batches():
                chosen = select(batch)
                if chosen:
                    yield chosen
            reader.close()
        log = readers[-1]
        async for batch in log.batches():
            chosen = select(batch)
            if chosen:
                yield chosen
        if not options.follow or not running():
            rest = select(log.flush())
            if rest:
                yield rest
            return
        async for batch in follow(log, ended=lambda: not running(), ended_event=ended_event):
            if options.until_ns is not None and batch[-1].time_ns > options.until_ns:
                chosen = [r for r in batch if r.time_ns <= options.until_ns and wanted(r)]
                if chosen:
                    yield chosen
                return
            chosen = select(batch)
            if chosen:
                yield chosen
    finally:
        for reader in readers:
            reader.close()


def _identity(files: list[Path]) -> list[tuple[int, int] | None]:
    out: list[tuple[int, int] | None] = []
    for f in files:
        try:
            st = os.stat(f)
            out.append((st.st_dev, st.st_ino))
        except FileNotFoundError:
            out.append(None)
    return out


def _open_readers(
    path: Path, tail: int | None, joiner: _Joiner, bulk: bool = False
) -> list[LogFile]:
    """Readers of the log's files from where `tail` starts, opened together. A rotation
    shifting the files while they are listed and opened would give a file twice or
    none: the names are looked at again after the opening, and it is all done again
    until they name the same files."""
    for _ in range(20):
        files = [*rotated_files(path), path]
        before = _identity(files)
        start_index, start_offset = 0, 0
        if tail is not None:
            start_index, start_offset = _tail_position(files, tail)
        readers = [
            LogFile(f, start_offset if i == start_index else 0, joiner=joiner, bulk=bulk)
            for i, f in enumerate(files)
            if i >= start_index
        ]
        if not readers:
            size = os.path.getsize(path) if path.exists() else 0
            readers = [LogFile(path, size, joiner=joiner, bulk=bulk)]
        for r in readers:
            r.open()
        if [*rotated_files(path), path] == files and _identity(files) == before:
            return readers
        for r in readers:
            r.close()
    return readers


def _tail_position(files: list[Path], lines: int) -> tuple[int, int]:
    """(index of the file, offset in it) where the last `lines` lines of `files`
    (oldest first) start."""
    if lines <= 0:
        last = files[-1]
        return len(files) - 1, os.path.getsize(last) if last.exists() else 0
    wanted = lines
    for index in range(len(files) - 1, -1, -1):
        f = files[index]
        try:
            if f.name.endswith(".gz"):
                content = _gz_lines(f)
                if len(content) >= wanted:
                    return index, sum(len(x) for x in content[: len(content) - wanted])
                wanted -= len(content)
                continue
            offset, found = _tail_start(f, wanted)
        except FileNotFoundError:
            continue
        if found >= wanted:
            return index, offset
        wanted -= found
    return 0, 0
