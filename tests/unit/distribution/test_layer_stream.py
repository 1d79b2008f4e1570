"""LayerStream's reader against a close from another thread (a cancelled pull closes
the stream while the unpack thread reads)."""

from __future__ import annotations

import io
import threading

import pytest

from pier.distribution.stream import LayerStream
from pier.errors import Unavailable


class _ClosingFile(io.BytesIO):
    """A blob file whose first read has the stream closed from another thread."""

    def __init__(self, data: bytes, stream: LayerStream) -> None:
        super().__init__(data)
        self.stream = stream
        self.closer: threading.Thread | None = None
        self.closed_during_read = False

    def read(self, n: int | None = -1) -> bytes:
        if self.closer is None:
            self.closer = threading.Thread(target=self.stream.close)
            self.closer.start()
            # Without the stream's lock the close would be done at once; with it, the
            # close is held until this read returns, so the join can only time out.
            self.closer.join(0.2)
            self.closed_during_read = self.closed
        return super().read(n)


def test_close_waits_for_a_read_under_way() -> None:
    stream = LayerStream()
    blob = _ClosingFile(b"x" * 100, stream)
    stream.attach(blob, written=100)
    stream.finish()
    reader = stream.open()
    assert reader.read(10) == b"x" * 10  # the read in progress completes
    assert blob.closer is not None
    blob.closer.join()
    assert not blob.closed_during_read
    assert blob.closed
    with pytest.raises(Unavailable):  # the next read sees the stream ended
        reader.read(10)
