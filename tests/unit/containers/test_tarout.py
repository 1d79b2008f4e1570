"""GNU tar's output on its two ways to a client (pier.containers.tarout), with a real
tar and real pipes: straight into a descriptor the body hands over, or relayed
through the event loop when it hands none; and a reader that goes away ends tar."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

from pier.containers import tarout


def _tree(root: Path) -> dict[str, bytes]:
    files = {f"sub/f{i}": os.urandom(size) for i, size in enumerate([0, 10, 70_000, 3 << 20])}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def _members(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for member in tf:
            if member.isfile():
                got = tf.extractfile(member)
                assert got is not None
                out[member.name] = got.read()
    return out


class _Relayed:
    """A body that cannot hand a descriptor over: everything comes through `write`."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.writes = 0

    async def write(self, data: bytes) -> None:
        self.data += data
        self.writes += 1

    @contextlib.contextmanager
    def direct(self) -> Iterator[int | None]:
        yield None


class _Direct:
    """A body handing over the write end of a pipe, read by a thread meanwhile."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.writes = 0

    async def write(self, data: bytes) -> None:
        self.writes += 1

    @contextlib.contextmanager
    def direct(self) -> Iterator[int | None]:
        rfd, wfd = os.pipe()

        def drain() -> None:
            with open(rfd, "rb") as reader:
                while block := reader.read(1 << 16):
                    self.data += block

        reader = threading.Thread(target=drain)
        reader.start()
        try:
            yield wfd
        finally:
            os.close(wfd)
            reader.join(timeout=30)
            assert not reader.is_alive()


def test_relayed_through_the_loop(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    body = _Relayed()
    assert asyncio.run(tarout.send(["-C", str(tmp_path), "--", "sub"], body))
    assert _members(bytes(body.data)) == files
    assert body.writes >= 1


def test_straight_into_the_handed_descriptor(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    body = _Direct()
    assert asyncio.run(tarout.send(["-C", str(tmp_path), "--", "sub"], body))
    assert _members(bytes(body.data)) == files
    assert body.writes == 0  # nothing passed through the daemon


class _GoneAway:
    """A client that has closed its end."""

    async def write(self, data: bytes) -> None:
        raise AssertionError("the direct way was offered")

    @contextlib.contextmanager
    def direct(self) -> Iterator[int | None]:
        rfd, wfd = os.pipe()
        os.close(rfd)
        try:
            yield wfd
        finally:
            os.close(wfd)


def test_a_reader_going_away_ends_tar(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(os.urandom(8 << 20))  # far more than a pipe holds
    body = _GoneAway()

    async def run() -> bool:
        return await asyncio.wait_for(tarout.send(["-C", str(tmp_path), "--", "big"], body), 60)

    # returns: tar was ended by SIGPIPE, not left writing, and says the archive is cut
    # (an export is announced only when whole)
    assert asyncio.run(run()) is False
