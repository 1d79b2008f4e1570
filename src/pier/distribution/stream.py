"""A layer blob read while it downloads: the pull unpacks each layer as its bytes
arrive instead of after the whole blob is stored.

The download writes into its content-store ingest as always (verified, resumable); the
unpacker reads the same file behind it, waiting when it catches up, and sees the end
only once the download has committed (verified) the blob. The file is the buffer, so
a slow unpacker never holds the download back and memory stays bounded; what it reads
was just written, from the page cache.
"""

from __future__ import annotations

import contextlib
import threading
from typing import BinaryIO

from pier.errors import Unavailable

_WAIT = 1.0  # seconds between checks of a stream nobody finishes (never expected)


class LayerStream:
    """Shared by one download (the event loop's side: `attach`, `advance`, `finish`,
    `fail`) and one unpacker (a worker thread: `open`, then reading). `close` ends it
    for both and closes the file."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        # Held around the reader's seek and read and the file's close: `close` waits for
        # a read under way (it would fail on a closed file) but the download's appends
        # never wait for a read.
        self._io = threading.Lock()
        self._file: BinaryIO | None = None
        self._written = 0
        self._done = False
        self._error: BaseException | None = None
        self._closed = False
        self._abandoned = False  # the reader closed: a read waiting for bytes stops

    # -- the download's side -----------------------------------------------------------

    def attach(self, file: BinaryIO, written: int) -> None:
        """The blob's bytes are in `file` (positioned at 0), `written` of them so far."""
        with self._cond:
            if self._closed or self._file is not None:
                file.close()
                return
            self._file = file
            self._written = written
            self._cond.notify_all()

    def advance(self, written: int) -> None:
        with self._cond:
            self._written = written
            self._cond.notify_all()

    def finish(self) -> None:
        """The blob is committed: everything in the file is verified content."""
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self._cond:
            if not self._done and self._error is None:
                self._error = exc
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            if self._error is None and not self._done:
                self._error = Unavailable("the layer's download ended")
            file, self._file = self._file, None
            self._cond.notify_all()
        if file is not None:
            with self._io:
                file.close()

    # -- the unpacker's side -----------------------------------------------------------

    def open(self) -> BinaryIO:
        return _Reader(self)  # type: ignore[return-value]

    def _abandon(self) -> None:
        with self._cond:
            self._abandoned = True
            self._cond.notify_all()

    def _read(self, pos: int, n: int) -> bytes:
        with self._cond:
            while True:
                if self._error is not None:
                    # The download's own error reaches the pull from the download.
                    raise Unavailable("the layer's download failed") from self._error
                if self._abandoned:
                    raise Unavailable("the layer's reader was closed")
                if self._closed:  # a finished stream closed: there is no file any more
                    raise Unavailable("the layer's download ended")
                if self._file is not None and (pos < self._written or self._done):
                    file = self._file
                    end = self._written if not self._done else None
                    break
                self._cond.wait(_WAIT)
        want = n if end is None else min(n, end - pos)
        with self._io:
            if file.closed:  # closed since: the pull has ended
                raise Unavailable("the layer's download ended")
            file.seek(pos)
            return file.read(want)


class _Reader:
    """File-like enough for the layer applier (read only)."""

    def __init__(self, stream: LayerStream) -> None:
        self._stream = stream
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            chunks = []
            while chunk := self.read(1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        if n == 0:
            return b""
        data = self._stream._read(self._pos, n)
        self._pos += len(data)
        return data

    def close(self) -> None:
        # The applier's inflating thread may be waiting in `read`: it stops there.
        self._stream._abandon()

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.close()
