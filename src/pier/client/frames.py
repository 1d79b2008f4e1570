"""The multiplexed stream of non-TTY attach and logs.

Each frame is an 8-byte header `[stream, 0, 0, 0, size as uint32 big-endian]`
followed by `size` bytes; stream 0 is stdin, 1 stdout, 2 stderr, 3 a system error.
"""

from __future__ import annotations

STDIN = 0
STDOUT = 1
STDERR = 2
SYSTEMERR = 3


class FrameDecoder:
    """Incremental: feed any slicing of the stream, get whole or partial payloads.

    Payloads are handed out as soon as they arrive, not when the frame is
    complete, so interactive output is not held back by a large frame.
    """

    __slots__ = ("_buf", "_left", "_stream")

    def __init__(self) -> None:
        self._buf = b""
        self._stream = STDOUT
        self._left = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        buf = self._buf + data if self._buf else data
        pos = 0
        n = len(buf)
        while pos < n:
            if self._left:
                piece = buf[pos : pos + self._left]
                pos += len(piece)
                self._left -= len(piece)
                if out and out[-1][0] == self._stream:
                    out[-1] = (self._stream, out[-1][1] + piece)
                else:
                    out.append((self._stream, piece))
                continue
            if n - pos < 8:
                break
            self._stream = buf[pos]
            self._left = int.from_bytes(buf[pos + 4 : pos + 8], "big")
            pos += 8
        self._buf = buf[pos:]
        return out

    @property
    def pending(self) -> bool:
        """True inside a frame (the stream ended early if it closes now)."""
        return bool(self._buf) or self._left > 0


def encode_frame(stream: int, payload: bytes) -> bytes:
    return bytes((stream, 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload
