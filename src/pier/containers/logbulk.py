"""Reading a chunk of a k8s-file log as one piece of output.

`logs` without timestamps or a time window wants the bytes, not each line with its
time: a chunk of one stream becomes one record, and one frame on the wire (Docker's
multiplexed frames may hold any number of lines).
"""

from __future__ import annotations

MARKERS = ((b" stdout ", 1), (b" stderr ", 2))  # the streams' numbers in Docker's frames


def whole_chunk(data: bytes, marker: bytes) -> bytes | None:
    """The output `data` (whole k8s-file lines, without the last newline) holds when
    every line is of the stream `marker` names: its bytes, with `P` pieces joined to
    what follows. One split and one slice per line instead of a record per line (100 MB
    of output are a million lines). None when a line is of the other stream, the
    marker also appears in the output itself, or a line has no data: the caller then
    reads the chunk line by line."""
    parts = data.split(marker)
    # n lines hold n markers (n + 1 parts) exactly when no output contains one.
    if len(parts) != data.count(b"\n") + 2 or marker + b"F\n" in data or marker + b"P\n" in data:
        return None
    last = parts[-1]
    if last[:2] not in (b"F ", b"P "):
        return None
    # Each middle part is "<flag> <data>\n<time of the next line>".
    pieces = [
        p[2 : p.rfind(b"\n") + (p[0] == 70)]  # 70: F, a whole line keeps its newline
        for p in parts[1:-1]
    ]
    pieces.append(last[2:] + b"\n" if last[0] == 70 else last[2:])
    return b"".join(pieces)
