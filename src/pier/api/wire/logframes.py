"""Docker's multiplexed frames for a log's messages.

A record read as a whole chunk (containers.logbulk) holds many messages; Docker's
json-file driver sends each message in a frame of its own, and clients (docker-py's
`logs(stream=True)`) hand each frame on as one line, so a chunk is framed message by
message: one list comprehension, no call per message.
"""

from __future__ import annotations

from pier.api.hijack import frame


def frame_messages(stream: int, data: bytes) -> bytes:
    """One frame per newline-ended message of `data` (and one for a rest without)."""
    head = bytes((stream, 0, 0, 0))
    messages = data.split(b"\n")
    rest = messages.pop()  # after the last newline: empty, or a piece without one
    out = b"".join([head + (len(m) + 1).to_bytes(4, "big") + m + b"\n" for m in messages])
    return out + frame(stream, rest) if rest else out
