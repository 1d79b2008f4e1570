"""Reading a container's log back as Docker's json-file driver would serve it.

conmon writes k8s-file lines: `<RFC3339Nano with offset> stdout|stderr F|P <data>`,
a `P` record being a piece of a line that continues in the next record. A Docker log
message is a whole line (with its newline) or the last piece of output without one.
Following uses inotify, so a reader sees new output as soon as conmon writes it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pier import timefmt

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


@dataclass(frozen=True, slots=True)
class LogRecord:
    raw_time: bytes
    stream: int
    data: bytes
    # conmon stamps a whole read, so several lines can share a time; Docker stamps
    # each line. The n-th line of one stamp is placed n nanoseconds after it, so every
    # line has its own monotonic time for `--timestamps` and since/until alike.
    seq: int = 0

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
    if lines <= 0:
        return os.path.getsize(f)
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
                    return pos + idx + 1
        return 0


_CHUNK = 4 << 20  # bytes read at a time: bounds memory whatever the log's size


class LogFile:
    """Reads records from an offset; remembers where the last complete line ended."""

    def __init__(self, path: Path, offset: int = 0, *, raw: bool = False) -> None:
        self.path = path
        self.offset = offset
        self._joiner = _Joiner(raw=raw)

    def read_chunk(self, limit: int = _CHUNK) -> tuple[list[LogRecord], bool]:
        """The records in the next `limit` bytes (blocking: run it in a thread), and
        whether the file may hold more complete lines after them."""
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self.offset:  # conmon truncated the file (log-size-max)
                    self.offset = 0
                fh.seek(self.offset)
                data = fh.read(limit)
                full = len(data) == limit
                while full and b"\n" not in data:  # a line longer than the limit
                    more = fh.read(limit)
                    full = len(more) == limit
                    data += more
        except FileNotFoundError:
            return [], False
        end = data.rfind(b"\n")
        if end < 0:
            return [], False
        self.offset += end + 1
        out = []
        for line in data[:end].split(b"\n"):
            record = self._joiner.feed(line)
            if record is not None:
                out.append(record)
        return out, full

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
    IN_CREATE = 0x100
    IN_NONBLOCK = 0o4000
    IN_CLOEXEC = 0o2000000

    def __init__(self, path: Path) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._fd = libc.inotify_init1(self.IN_NONBLOCK | self.IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        # Watch the directory: the log file may not exist yet when a reader starts.
        wd = libc.inotify_add_watch(
            self._fd,
            str(path.parent).encode(),
            self.IN_MODIFY | self.IN_CLOSE_WRITE | self.IN_CREATE,
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
        asyncio.get_running_loop().remove_reader(self._fd)
        os.close(self._fd)


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
    """Docker's GET /containers/{id}/logs over a k8s-file log, in batches of records
    (so a reader can write them out in few large writes)."""
    start = 0
    if options.tail is not None and path.exists():
        start = await asyncio.to_thread(_tail_offset, path, options.tail)
    log = LogFile(path, start)

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

    keep_all = (
        options.stdout and options.stderr and options.since_ns is None and options.until_ns is None
    )

    def select(batch: list[LogRecord]) -> list[LogRecord]:
        return batch if keep_all else [r for r in batch if wanted(r)]

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
