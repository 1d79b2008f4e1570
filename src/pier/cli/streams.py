"""Copying container output to the terminal: raw (TTY) or demultiplexed frames."""

from __future__ import annotations

import os
import sys

from pier.client.frames import STDERR, SYSTEMERR, FrameDecoder

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class OutputCopier:
    """Writes what the daemon sends to fds 1/2, demultiplexing unless `tty`."""

    def __init__(self, *, tty: bool, stdout_fd: int = 1, stderr_fd: int = 2) -> None:
        self.tty = tty
        self.stdout_fd = stdout_fd
        self.stderr_fd = stderr_fd
        self.decoder = None if tty else FrameDecoder()
        # Python's buffered stdout must not interleave with our raw writes.
        sys.stdout.flush()

    def feed(self, data: bytes) -> None:
        if self.decoder is None:
            write_all(self.stdout_fd, data)
            return
        for stream, payload in self.decoder.feed(data):
            fd = self.stderr_fd if stream in (STDERR, SYSTEMERR) else self.stdout_fd
            write_all(fd, payload)

    def copy(self, chunks: Iterable[bytes]) -> None:
        for data in chunks:
            self.feed(data)
