"""A regular entry's data written to its new file: zero runs left as holes, a sparse
entry's map kept, and only what is written counted against the upload's budget."""

from __future__ import annotations

import os
import tarfile
from typing import Any, cast

from pier.errors import InvalidParameter
from pier.images.budget import Budget

_CHUNK = 1 << 20
_HOLE_GRAIN = 1 << 16  # the smallest zero run a plain entry leaves as a hole
_HOLE = bytes(_HOLE_GRAIN)


def spend(budget: Budget | None, size: int, m: tarfile.TarInfo) -> None:
    if budget is not None:
        budget.spend(size, m.name)


def write_dense(fd: int, m: tarfile.TarInfo, tf: tarfile.TarFile, budget: Budget | None) -> None:
    """A plain entry, its zero runs left as holes: a layer Pier made of a sparse
    file (tar's plain format has no holes) must not become gigabytes on disk, and
    only what is written counts against the budget."""
    src = tf.extractfile(m)
    assert src is not None
    offset = 0
    while block := src.read(_CHUNK):
        if _HOLE not in block:  # most data: one write
            _write_at(fd, memoryview(block), offset, m, budget)
        elif block.count(0) != len(block):
            # Pieces of the block, so that a few bytes amid zeros allocate little.
            view = memoryview(block)
            for start in range(0, len(view), _HOLE_GRAIN):
                piece = view[start : start + _HOLE_GRAIN]
                if block.count(0, start, start + len(piece)) != len(piece):
                    _write_at(fd, piece, offset + start, m, budget)
        offset += len(block)
    os.ftruncate(fd, offset)


def _write_at(
    fd: int, data: memoryview, offset: int, m: tarfile.TarInfo, budget: Budget | None
) -> None:
    spend(budget, len(data), m)
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:], offset + done)


def write_sparse(fd: int, m: tarfile.TarInfo, tf: tarfile.TarFile, budget: Budget | None) -> None:
    """A sparse entry keeps its holes: only its data segments are written."""
    reader = tf.extractfile(m)
    assert reader is not None and m.sparse is not None
    # The buffered reader refuses to seek on a stream; the raw one under it only
    # moves its position, and reads holes as zeros without touching the stream.
    src = cast(Any, reader).raw
    # typeshed says int; tarfile keeps the (offset, size) map of the data here.
    segments = cast(list[tuple[int, int]], m.sparse)
    for offset, size in segments:
        spend(budget, size, m)
        src.seek(offset)
        done = 0
        while done < size:
            block = src.read(min(_CHUNK, size - done))
            if not block:
                raise InvalidParameter(f"invalid layer tar: {m.name!r} is truncated")
            os.pwrite(fd, block, offset + done)
            done += len(block)
    os.ftruncate(fd, m.size)
