"""A chunk of a k8s-file log read as one piece of output (containers.logbulk), against
the line-by-line reading it stands in for."""

from __future__ import annotations

import pytest

from pier.api.hijack import frame
from pier.api.wire.logframes import frame_messages
from pier.containers.logbulk import whole_chunk
from pier.containers.logs import _Joiner

T = b"2026-11-30T03:57:58.494376469+00:00"


def _line_by_line(data: bytes) -> bytes:
    joiner = _Joiner()
    out = [r.data for line in data.split(b"\n") if (r := joiner.feed(line)) is not None]
    return b"".join(out) + b"".join(r.data for r in joiner.flush())


@pytest.mark.parametrize(
    "lines",
    [
        [b"stdout F one", b"stdout F two"],
        [b"stdout P abc", b"stdout P def", b"stdout F ghi", b"stdout F last"],
        [b"stdout F x", b"stdout P tail without newline"],
        [b"stdout F  leading space", b"stdout F trailing \t"],
    ],
    ids=["whole", "pieces", "ends-in-piece", "spaces"],
)
def test_one_stream_reads_as_the_lines_would(lines: list[bytes]) -> None:
    data = b"\n".join(T + b" " + line for line in lines)
    assert whole_chunk(data, b" stdout ") == _line_by_line(data + b"\n")


@pytest.mark.parametrize(
    "lines",
    [
        [b"stdout F one", b"stderr F two"],
        [b"stdout F says stdout F inside"],
        [b"stdout F", b"stdout F next"],
        [b"stdout F a", b"stdout F"],
    ],
    ids=["mixed", "marker-in-output", "empty-line", "empty-last"],
)
def test_what_it_cannot_read_whole_is_left_to_the_lines(lines: list[bytes]) -> None:
    data = b"\n".join(T + b" " + line for line in lines)
    assert whole_chunk(data, b" stdout ") is None


def test_stderr_alone() -> None:
    data = T + b" stderr F e1\n" + T + b" stderr F e2"
    assert whole_chunk(data, b" stderr ") == b"e1\ne2\n"
    assert whole_chunk(data, b" stdout ") is None


@pytest.mark.parametrize("data", [b"a\nbb\n", b"a\nbb\npiece", b"\n\n", b"only piece"], ids=str)
def test_a_chunk_is_framed_message_by_message(data: bytes) -> None:
    messages = [m + b"\n" for m in data.split(b"\n")[:-1]]
    if not data.endswith(b"\n"):
        messages.append(data.rsplit(b"\n", 1)[-1])
    assert frame_messages(2, data) == b"".join(frame(2, m) for m in messages)
