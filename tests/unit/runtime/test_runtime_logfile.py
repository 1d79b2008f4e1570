"""k8s-file log parsing: lines, partial joining, tail/since/until, follow."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pier.runtime.logfile import (
    LogRecord,
    follow_log,
    join_partials,
    parse_line,
    parse_time,
    read_log,
)

T0 = "2024-05-01T10:00:00.000000001+00:00"


def line(sec: int, stream: str, tag: str, data: str) -> bytes:
    return f"2024-05-01T10:00:{sec:02d}.500000000+00:00 {stream} {tag} {data}\n".encode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            f"{T0} stdout F hi\n".encode(),
            LogRecord(time=T0, stream="stdout", partial=False, data=b"hi\n"),
        ),
        (
            f"{T0} stderr P par".encode(),
            LogRecord(time=T0, stream="stderr", partial=True, data=b"par"),
        ),
        (
            f"{T0} stdout F \n".encode(),
            LogRecord(time=T0, stream="stdout", partial=False, data=b"\n"),
        ),
        (
            f"{T0} stdout F a b  c\n".encode(),
            LogRecord(time=T0, stream="stdout", partial=False, data=b"a b  c\n"),
        ),
    ],
    ids=["full", "partial", "empty", "spaces"],
)
def test_parse_line(raw: bytes, expected: LogRecord) -> None:
    assert parse_line(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [b"", b"garbage", f"{T0} stdin F x".encode(), f"{T0} stdout X x".encode()],
    ids=["empty", "garbage", "stream", "tag"],
)
def test_parse_line_rejects(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_line(raw)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1970-01-01T00:00:01Z", 1_000_000_000),
        ("1970-01-01T00:00:01.5Z", 1_500_000_000),
        ("1970-01-01T01:00:01.000000007+01:00", 1_000_000_007),
        ("1969-12-31T23:00:01.25-01:00", 1_250_000_000),
    ],
    ids=["z", "fraction", "plus-offset", "minus-offset"],
)
def test_parse_time(text: str, ns: int) -> None:
    assert parse_time(text) == ns


def test_join_partials_per_stream() -> None:
    recs = [
        parse_line(x)
        for x in (
            line(1, "stdout", "P", "hel"),
            line(2, "stderr", "F", "err"),
            line(3, "stdout", "F", "lo"),
            line(4, "stdout", "P", "tail"),
        )
    ]
    joined = list(join_partials(recs))
    assert [(r.stream, r.data, r.partial) for r in joined] == [
        ("stderr", b"err\n", False),
        ("stdout", b"hello\n", False),
        ("stdout", b"tail", True),
    ]
    assert joined[1].time.startswith("2024-05-01T10:00:01")


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "ctr.log"
    body = b"".join(line(i, "stdout", "F", f"l{i}") for i in range(10))
    path.write_bytes(body + line(10, "stdout", "P", "x") + line(11, "stdout", "F", "y"))
    return path


def test_read_all(log: Path) -> None:
    assert [r.data for r in read_log(log)][-2:] == [b"l9\n", b"xy\n"]
    assert len(read_log(log)) == 11


@pytest.mark.parametrize(
    ("tail", "count"), [(0, 0), (1, 1), (3, 3), (100, 11)], ids=["0", "1", "3", "all"]
)
def test_tail(log: Path, tail: int, count: int) -> None:
    got = read_log(log, tail=tail)
    assert len(got) == count
    if count:
        assert got[-1].data == b"xy\n"


def test_tail_over_many_blocks(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(
        b"".join(line(i % 60, "stdout", "F", f"{i:06d}" + "z" * 200) for i in range(2000))
    )
    got = read_log(path, tail=5)
    assert [r.data[:6] for r in got] == [b"001995", b"001996", b"001997", b"001998", b"001999"]


def test_since_until(log: Path) -> None:
    since = parse_time("2024-05-01T10:00:03.5Z")
    until = parse_time("2024-05-01T10:00:05.5Z")
    assert [r.data for r in read_log(log, since_ns=since, until_ns=until)] == [
        b"l3\n",
        b"l4\n",
        b"l5\n",
    ]


def test_missing_file(tmp_path: Path) -> None:
    assert read_log(tmp_path / "nope") == []


def test_follow_sees_appends_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "f.log"
    path.write_bytes(line(1, "stdout", "F", "first"))
    done = {"exited": False}

    async def writer() -> None:
        await asyncio.sleep(0.05)
        with open(path, "ab") as f:
            f.write(line(2, "stdout", "P", "par"))
            f.flush()
            await asyncio.sleep(0.05)
            f.write(line(3, "stdout", "F", "tial"))
            f.write(line(4, "stderr", "F", "last")[:20])  # torn
            f.flush()
            await asyncio.sleep(0.05)
            f.write(line(4, "stderr", "F", "last")[20:])
        done["exited"] = True

    async def go() -> list[bytes]:
        task = asyncio.ensure_future(writer())
        got = [
            r.data
            async for r in follow_log(path, exited=lambda: done["exited"], poll_interval=0.01)
        ]
        await task
        return got

    assert asyncio.run(go()) == [b"first\n", b"partial\n", b"last\n"]


def test_follow_tail_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    path.write_bytes(line(1, "stdout", "F", "a") + line(2, "stdout", "F", "b"))
    done = {"exited": False}

    async def rotate() -> None:
        await asyncio.sleep(0.05)
        tmp = tmp_path / "r.log.tmp"
        tmp.write_bytes(line(3, "stdout", "F", "c"))
        tmp.rename(path)
        await asyncio.sleep(0.05)
        done["exited"] = True

    async def go() -> list[bytes]:
        task = asyncio.ensure_future(rotate())
        got = [
            r.data
            async for r in follow_log(
                path, exited=lambda: done["exited"], tail=1, poll_interval=0.01
            )
        ]
        await task
        return got

    assert asyncio.run(go()) == [b"b\n", b"c\n"]
