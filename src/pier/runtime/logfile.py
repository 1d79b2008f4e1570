"""Read conmon's k8s-file container logs.

Each line is `<RFC3339Nano time> <stdout|stderr> <F|P> <data>\\n`. conmon writes one
line per line of output, tagged F (full: the data ended with a newline, kept in the
record) or P (partial: the output had no newline yet; the line's own newline is not
part of the data). A message split into P parts ends with an F part of the same stream.
With `--log-size-max` conmon starts the file over (a new inode) when it is full.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

_BLOCK = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class LogRecord:
    time: str  # as conmon wrote it (RFC 3339 with nanoseconds, local offset)
    stream: str  # "stdout" | "stderr"
    partial: bool
    data: bytes

    @property
    def time_ns(self) -> int:
        return parse_time(self.time)


def parse_time(text: str) -> int:
    """RFC 3339 (nanoseconds, any offset or Z) -> nanoseconds since the epoch."""
    main, frac, zone = text[:19], "", text[19:]
    if zone.startswith("."):
        end = 1
        while end < len(zone) and zone[end].isdigit():
            end += 1
        frac, zone = zone[1:end], zone[end:]
    if zone in ("Z", "z", ""):
        zone = "+00:00"
    try:
        seconds = int(datetime.fromisoformat(main + zone).timestamp())
    except ValueError as exc:
        raise ValueError(f"bad log timestamp: {text!r}") from exc
    return seconds * 1_000_000_000 + int((frac + "000000000")[:9])


def parse_line(line: bytes) -> LogRecord:
    """One k8s-file line (with or without its newline) -> LogRecord; ValueError if bad."""
    if line.endswith(b"\n"):
        line = line[:-1]
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        raise ValueError(f"not a k8s-file log line: {line[:80]!r}")
    data = parts[3] if len(parts) == 4 else b""
    partial = parts[2] == b"P"
    # A full line's data is everything up to and including its newline.
    return LogRecord(
        time=parts[0].decode(),
        stream=parts[1].decode(),
        partial=partial,
        data=data if partial else data + b"\n",
    )


def join_partials(records: Iterable[LogRecord]) -> Iterator[LogRecord]:
    """Merge P parts with the F part that ends them, per stream; time of the first part.

    Trailing P parts without their F (the output of a still running container) are
    yielded as they are, still marked partial.
    """
    pending: dict[str, list[LogRecord]] = {}
    for rec in records:
        parts = pending.get(rec.stream)
        if rec.partial:
            pending.setdefault(rec.stream, []).append(rec)
            continue
        if parts:
            del pending[rec.stream]
            yield replace(parts[0], partial=False, data=b"".join(p.data for p in parts) + rec.data)
        else:
            yield rec
    for parts in pending.values():
        yield replace(parts[0], data=b"".join(p.data for p in parts))


def _parse_lines(lines: Iterable[bytes]) -> Iterator[LogRecord]:
    for line in lines:
        if not line.strip():
            continue
        try:
            yield parse_line(line)
        except ValueError:
            continue  # a torn line from a crash: skip it, as dockerd skips bad json


def _in_window(rec: LogRecord, since_ns: int | None, until_ns: int | None) -> bool:
    if since_ns is None and until_ns is None:
        return True
    t = rec.time_ns
    return (since_ns is None or t >= since_ns) and (until_ns is None or t <= until_ns)


def _tail_lines(f: BinaryIO, size: int, tail: int) -> list[bytes]:
    """The raw lines holding the last `tail` full records (reads backwards)."""
    chunks: list[bytes] = []
    pos = size
    full = 0
    while pos > 0:
        step = min(_BLOCK, pos)
        pos -= step
        f.seek(pos)
        chunk = f.read(step)
        chunks.insert(0, chunk)
        # Count F markers roughly; the exact cut happens after parsing.
        full += chunk.count(b" F ")
        if full > tail + 1:
            break
    blob = b"".join(chunks)
    lines = blob.split(b"\n")
    if pos > 0:
        lines = lines[1:]  # the first one is cut
    return [line for line in lines if line]


def read_log(
    path: Path,
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    tail: int | None = None,
) -> list[LogRecord]:
    """The joined records of a log file: the last `tail` ones, then those in the window."""
    return _read_log(path, since_ns=since_ns, until_ns=until_ns, tail=tail)[0]


def _read_log(
    path: Path,
    *,
    since_ns: int | None,
    until_ns: int | None,
    tail: int | None,
) -> tuple[list[LogRecord], int | None, int]:
    """Records, the file's inode, and the offset after the last whole line read."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        return [], None, 0
    with f:
        st = os.fstat(f.fileno())
        end = _last_line_start(f, st.st_size)
        if tail is not None and tail >= 0:
            lines = _tail_lines(f, end, tail) if tail > 0 else []
            records = list(join_partials(_parse_lines(lines)))[-tail:] if tail > 0 else []
        else:
            f.seek(0)
            records = list(join_partials(_parse_lines(f.read(end).split(b"\n"))))
    return [r for r in records if _in_window(r, since_ns, until_ns)], st.st_ino, end


async def follow_log(
    path: Path,
    *,
    exited: Callable[[], bool],
    since_ns: int | None = None,
    until_ns: int | None = None,
    tail: int | None = None,
    poll_interval: float = 0.1,
) -> AsyncIterator[LogRecord]:
    """Yield the log's records, then new ones as conmon writes them.

    Stops when `exited()` is true and everything written has been read (conmon drains
    the container's output into the file before it records the exit), or when a record
    is past `until_ns`. A partial message is held back until its F part arrives.
    """
    carry = b""
    held: dict[str, list[LogRecord]] = {}
    first, inode, offset = await asyncio.to_thread(
        _read_log, path, since_ns=since_ns, until_ns=None, tail=tail
    )
    for rec in first:
        if rec.partial:
            held.setdefault(rec.stream, []).append(rec)
            continue
        if until_ns is not None and rec.time_ns > until_ns:
            return
        yield rec

    while True:
        finished = exited()
        data, inode, offset, rotated = await asyncio.to_thread(_read_more, path, inode, offset)
        if rotated:
            carry = b""
        if data:
            carry += data
            lines = carry.split(b"\n")
            carry = lines.pop()
            for rec in _parse_lines(lines):
                if rec.partial:
                    held.setdefault(rec.stream, []).append(rec)
                    continue
                parts = held.pop(rec.stream, [])
                if parts:
                    rec = replace(parts[0], data=b"".join(p.data for p in parts) + rec.data)
                if since_ns is not None and rec.time_ns < since_ns:
                    continue
                if until_ns is not None and rec.time_ns > until_ns:
                    return
                yield rec
            continue
        if finished:
            for parts in held.values():
                yield replace(parts[0], data=b"".join(p.data for p in parts))
            return
        await asyncio.sleep(poll_interval)


def _last_line_start(f: BinaryIO, size: int) -> int:
    """The offset just after the last newline before `size` (whole lines end there)."""
    pos = size
    while pos > 0:
        step = min(_BLOCK, pos)
        f.seek(pos - step)
        chunk = f.read(step)
        idx = chunk.rfind(b"\n")
        if idx >= 0:
            return pos - step + idx + 1
        pos -= step
    return 0


def _read_more(path: Path, inode: int | None, offset: int) -> tuple[bytes, int | None, int, bool]:
    """New bytes since `offset`; starts over when conmon replaced or truncated the file."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return b"", inode, offset, False
    with f:
        st = os.fstat(f.fileno())
        rotated = inode is not None and (st.st_ino != inode or st.st_size < offset)
        if rotated or inode is None:
            offset = 0
        f.seek(offset)
        data = f.read(_BLOCK * 4)
        return data, st.st_ino, offset + len(data), rotated
