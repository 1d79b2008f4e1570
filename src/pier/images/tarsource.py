"""A layer's tar stream as `tarfile` reads it fastest: decompressed and hashed in large
chunks, served to a seekable-mode TarFile that only ever moves forward.

`tarfile`'s stream mode (`r|`) reads its source 10 KiB at a time and re-joins and
re-slices its buffer on each read: on a 200 MB base layer that plumbing cost as much
as inflating it (0.5 s of the applier's thread, measured here). This reader inflates
1 MiB at a time (ISA-L when installed, else zlib), hashes each chunk once as it is made
(the DiffID, and the compressed digest when asked), and answers `read`/`seek`/`tell`
from the chunk in hand; a seek ahead discards, a seek back before the chunk is refused
as the stream mode refuses it (a hostile sparse map, say).

Reading, inflating and hashing run in a thread of their own, a few chunks ahead of the
tar reader: ISA-L and hashlib release the GIL, so on a base layer they overlap the
parsing and file creation instead of adding to them. The thread is the source's: it
stops and is joined in `close`, which also closes the raw stream (a pull's layer
stream then stops waiting for bytes).

Bounded: a chunk is at most 1 MiB of output whatever its input (a gzip bomb is
inflated a chunk at a time, as its tar entries are written), and at most `_AHEAD`
chunks wait.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import tarfile
import threading
import zlib
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any, cast

from pier.errors import InvalidParameter

_CHUNK = 1 << 20
_AHEAD = 4
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"


def _inflater() -> Any:
    try:  # ISA-L inflates about 3x faster than zlib here (measured, decisions.md)
        from isal import isal_zlib
    except ImportError:
        return zlib.decompressobj(wbits=31)
    return isal_zlib.decompressobj(wbits=31)


class TarSource:
    """Read-only, forward-only file object over a (possibly compressed) layer tar.

    `diff_id`/`size` cover the decompressed stream and `digest`/`compressed_size` the
    stream as read, once `drain` has read it to its end."""

    def __init__(self, raw: IO[bytes], *, hash_compressed: bool = True) -> None:
        self._raw = raw
        self._outer = hashlib.sha256() if hash_compressed else None
        self._inner = hashlib.sha256()
        self.compressed_size = 0
        self.size = 0  # decompressed bytes made so far
        self._chunk = b""  # the decompressed bytes in hand
        self._start = 0  # stream position of _chunk[0]
        self._off = 0  # read position within _chunk
        self._ended = False
        self._pending = b""  # compressed input not yet given to the inflater
        self._inflate: Any = None
        self._next: Callable[[], bytes] = self._first
        self._chunks: queue.Queue[bytes | BaseException] = queue.Queue(_AHEAD)
        self._stop = False
        self._thread = threading.Thread(target=self._produce, name="layer-inflate", daemon=True)

    def __enter__(self) -> TarSource:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._stop = True
        # Wakes a producer waiting for bytes that may never come (a pull's layer stream).
        with contextlib.suppress(Exception):
            self._raw.close()
        # It puts at most one more chunk before it sees the stop: room for it.
        with contextlib.suppress(queue.Empty):
            while True:
                self._chunks.get_nowait()
        self._thread.join()

    def _produce(self) -> None:
        try:
            while not self._stop:
                data = self._next()
                if not data:
                    while self._read_raw():
                        pass  # what follows the compressed stream is still the blob's
                    self._chunks.put(b"")
                    return
                self._inner.update(data)
                self.size += len(data)
                self._chunks.put(data)
        except BaseException as exc:  # the reader's to raise, in its thread
            self._chunks.put(exc)

    # -- the compressed side -----------------------------------------------------------

    def _read_raw(self) -> bytes:
        data = self._raw.read(_CHUNK)
        if data:
            if self._outer is not None:
                self._outer.update(data)
            self.compressed_size += len(data)
        return data

    def _first(self) -> bytes:
        head = self._read_raw()
        while 0 < len(head) < 4 and (more := self._read_raw()):
            head += more
        if head[:2] == _GZIP:
            self._pending = head
            self._next = self._gunzip
            return self._gunzip()
        if head[:4] == _ZSTD:
            return self._start_zstd(head)
        if head[:3] == b"BZh" or head[:4] == b"\xfd7zX":
            raise InvalidParameter("unsupported layer compression (bzip2/xz)")
        self._next = self._read_raw
        return head

    def _gunzip(self) -> bytes:
        """The next piece of the gzip stream's output; b"" at its end. Members follow
        each other (as pigz writes them), zero bytes between them are padding (as
        Python's gzip reader takes them)."""
        while True:
            if self._inflate is None:
                data = self._pending.lstrip(b"\0")
                while not data:
                    more = self._read_raw()
                    if not more:
                        return b""
                    data = more.lstrip(b"\0")
                self._pending = data
                self._inflate = _inflater()
            if not self._pending:
                self._pending = self._read_raw()
                if not self._pending:
                    raise EOFError(
                        "Compressed file ended before the end-of-stream marker was reached"
                    )
            inflate = self._inflate
            try:
                out: bytes = inflate.decompress(self._pending, _CHUNK)
            except Exception as exc:  # zlib.error, ISA-L's IsalError: damaged data
                raise InvalidParameter(f"invalid layer tar: {exc}") from exc
            if inflate.eof:
                self._pending = inflate.unused_data
                self._inflate = None
            else:
                self._pending = inflate.unconsumed_tail
            if out:
                return out

    def _start_zstd(self, head: bytes) -> bytes:
        try:
            import zstandard  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise InvalidParameter("zstd-compressed layers need the zstandard module") from None
        # Across frames, as Go's decoder reads them (zstd:chunked layers have many).
        reader = zstandard.ZstdDecompressor().stream_reader(
            cast(IO[bytes], _Prefixed(head, self._read_raw)), read_across_frames=True
        )

        def next_zstd() -> bytes:
            data: bytes = reader.read(_CHUNK)
            return data

        self._next = next_zstd
        return next_zstd()

    # -- the decompressed side ---------------------------------------------------------

    def _advance(self) -> bool:
        """The next chunk in hand; False at the end of the stream."""
        if self._ended:
            return False
        self._start += len(self._chunk)
        self._chunk = b""
        self._off = 0
        item = self._chunks.get()
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        if not item:
            self._ended = True
            return False
        self._chunk = item
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 62
        parts = []
        while n > 0:
            avail = len(self._chunk) - self._off
            if not avail:
                if not self._advance():
                    break
                continue
            take = min(avail, n)
            if take == len(self._chunk):
                parts.append(self._chunk)  # the whole chunk: no copy
            else:
                parts.append(self._chunk[self._off : self._off + take])
            self._off += take
            n -= take
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def tell(self) -> int:
        return self._start + self._off

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos += self.tell()
        elif whence != 0:
            raise tarfile.ReadError("seeking from the end is not allowed")
        if pos < self._start:
            raise tarfile.ReadError("seeking backwards is not allowed")
        while pos > self._start + len(self._chunk):
            if not self._advance():
                # Past the end: tarfile then reads nothing there ("unexpected end").
                return self.tell()
        self._off = pos - self._start
        return pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        """Read to the end: both hashes then cover the whole stream."""
        while self._advance():
            pass

    @property
    def diff_id(self) -> str:
        return "sha256:" + self._inner.hexdigest()

    @property
    def digest(self) -> str:
        return "sha256:" + self._outer.hexdigest() if self._outer is not None else ""


class _Prefixed:
    """The bytes already read, then the rest, `n` at a time at most (zstandard's reader
    wants a file)."""

    def __init__(self, head: bytes, more: Callable[[], bytes]) -> None:
        self._buf = head
        self._pos = 0
        self._more = more

    def read(self, n: int = -1) -> bytes:
        if self._pos == len(self._buf):
            self._buf = self._more()
            self._pos = 0
        end = len(self._buf) if n < 0 else min(len(self._buf), self._pos + n)
        data = self._buf[self._pos : end]
        self._pos = end
        return data
