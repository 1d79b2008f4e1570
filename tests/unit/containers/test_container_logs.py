"""The k8s-file reader behind the logs API: parsing, joining partial lines, tail,
since/until, truncation by conmon's log-size-max, and following with inotify."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from pier import timefmt
from pier.containers.logs import (
    STDERR,
    STDOUT,
    LogFile,
    LogOptions,
    _tail_offset,
    follow,
    read_logs,
)

T0 = "2024-05-01T10:00:00.000000001+00:00"
T1 = "2024-05-01T10:00:01.500000000+00:00"
T2 = "2024-05-01T12:00:02.000000000+02:00"  # 10:00:02 UTC, in another offset


def _write(path: Path, *lines: str) -> Path:
    path.write_bytes("".join(line + "\n" for line in lines).encode())
    return path


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "ctr.log",
        f"{T0} stdout F one",
        f"{T0} stderr F err",
        f"{T1} stdout P par",
        f"{T1} stdout F tial",
        f"{T2} stdout F two",
    )


def _collect(path: Path, **options: object) -> list[tuple[int, bytes]]:
    async def go() -> list[tuple[int, bytes]]:
        return [
            (r.stream, r.data)
            async for batch in read_logs(
                path,
                LogOptions(**options),  # type: ignore[arg-type]
                running=lambda: False,
                ended_event=asyncio.Event(),
            )
            for r in batch
        ]

    return asyncio.run(go())


def test_parse_and_join(log: Path) -> None:
    assert _collect(log) == [
        (STDOUT, b"one\n"),
        (STDERR, b"err\n"),
        (STDOUT, b"partial\n"),
        (STDOUT, b"two\n"),
    ]


def test_a_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    path = _write(tmp_path / "l", f"{T0} stdout P no-newline")
    assert _collect(path) == [(STDOUT, b"no-newline")]


def test_stream_selection(log: Path) -> None:
    assert _collect(log, stdout=False) == [(STDERR, b"err\n")]


@pytest.mark.parametrize(
    ("tail", "count"), [(0, 0), (1, 1), (2, 2), (100, 4)], ids=["zero", "one", "two", "more"]
)
def test_tail(log: Path, tail: int, count: int) -> None:
    # Line by line (with times), and read in whole chunks (without): the same lines.
    by_line = _collect(log, tail=tail, timestamps=True)
    assert len(by_line) == count
    assert b"".join(d for _, d in _collect(log, tail=tail)) == b"".join(d for _, d in by_line)


def test_one_stream_is_read_in_whole_chunks(tmp_path: Path) -> None:
    """Without times to print or compare, a chunk of one stream is one record."""
    lines = [f"{T0} stdout F line-{i:06d}" for i in range(5000)]
    lines[10:12] = [f"{T1} stdout P half-", f"{T1} stdout F line"]
    path = _write(tmp_path / "big", *lines)
    whole = _collect(path)
    by_line = _collect(path, timestamps=True)
    assert len(whole) == 1 < len(by_line) == 4999
    assert whole[0] == (STDOUT, b"".join(d for _, d in by_line))


def test_tail_over_many_blocks(tmp_path: Path) -> None:
    path = _write(tmp_path / "big", *(f"{T0} stdout F line-{i:06d}" for i in range(20000)))
    offset = _tail_offset(path, 3)
    records = LogFile(path, offset).read_chunk()[0]
    assert [r.data for r in records] == [b"line-019997\n", b"line-019998\n", b"line-019999\n"]


def test_since_until_with_offsets(log: Path) -> None:
    t1 = timefmt.parse_ns("2024-05-01T10:00:01Z")
    assert _collect(log, since_ns=t1) == [(STDOUT, b"partial\n"), (STDOUT, b"two\n")]
    assert _collect(log, until_ns=t1) == [(STDOUT, b"one\n"), (STDERR, b"err\n")]


def test_lines_of_one_stamp_get_distinct_times(log: Path) -> None:
    records = LogFile(log).read_chunk()[0]
    assert records[1].time_ns == records[0].time_ns + 1
    assert records[0].time == "2024-05-01T10:00:00.000000001Z"
    assert records[3].time == "2024-05-01T10:00:02.000000000Z"


def test_truncated_file_is_read_from_the_start(log: Path) -> None:
    reader = LogFile(log)
    assert len(reader.read_chunk()[0]) == 4
    _write(log, f"{T2} stdout F after-rotation")
    assert [r.data for r in reader.read_chunk()[0]] == [b"after-rotation\n"]


async def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition, polling, with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met within the timeout")
        await asyncio.sleep(0.01)


def test_follow_sees_appends_and_stops_at_the_end(tmp_path: Path) -> None:
    path = _write(tmp_path / "f", f"{T0} stdout F first")

    async def go() -> list[bytes]:
        ended = asyncio.Event()
        seen: list[bytes] = []

        async def writer() -> None:
            await _until(lambda: seen == [b"first\n"])  # the follower is at the end
            with open(path, "ab") as fh:
                fh.write(f"{T1} stdout F second\n".encode())
            await _until(lambda: len(seen) == 2)  # it picked the append up
            ended.set()

        task = asyncio.create_task(writer())
        async for batch in follow(LogFile(path), ended=lambda: False, ended_event=ended):
            seen += [record.data for record in batch]
        await task
        return seen

    assert asyncio.run(go()) == [b"first\n", b"second\n"]


def test_reads_in_bounded_chunks_and_joins_across_them(tmp_path: Path) -> None:
    lines = [f"{T0} stdout P piece-{i:03d}-" for i in range(50)] + [f"{T0} stdout F end"]
    path = _write(tmp_path / "chunks", *lines, f"{T1} stderr F after")
    reader = LogFile(path)
    records = []
    rounds = 0
    while True:
        got, more = reader.read_chunk(limit=256)
        records += got
        rounds += 1
        if not more:
            break
    assert rounds > 10
    joined = "".join(f"piece-{i:03d}-" for i in range(50)).encode() + b"end\n"
    assert [(r.stream, r.data) for r in records] == [(STDOUT, joined), (STDERR, b"after\n")]


def test_a_line_longer_than_the_chunk_is_read_whole(tmp_path: Path) -> None:
    path = _write(tmp_path / "long", f"{T0} stdout F " + "x" * 5000, f"{T1} stdout F short")
    records, _ = LogFile(path).read_chunk(limit=100)
    assert [len(r.data) for r in records] == [5001, 6]


def test_raw_reading_passes_pieces_on_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "raw", f"{T0} stdout P / # ", f"{T1} stdout F echo", f"{T2} stdout P x"
    )
    records, _ = LogFile(path, raw=True).read_chunk()
    assert [r.data for r in records] == [b"/ # ", b"echo\n", b"x"]
