"""ContentStore: immutable blobs addressed by digest.

Vocabulary (containerd's): a *blob* is committed content under `blobs/sha256/<hex>`;
an *ingest* is an in-progress write identified by a caller-chosen `ref`, kept under
`ingest/<sha256 of ref>/` until `commit` verifies its size and digest and renames it
into place. A blob is visible only after its commit, and appears atomically.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class Info:
    digest: str
    size: int
    created_at: float  # unix seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestStatus:
    ref: str
    offset: int  # bytes written so far
    started_at: float
    updated_at: float = 0.0  # last write (unix seconds); 0 when unknown


class Writer(Protocol):
    """An open ingest. Leaving a `with` block without `commit` aborts the ingest."""

    @property
    def offset(self) -> int: ...

    def write(self, data: bytes) -> int: ...

    def digest(self) -> str:
        """Digest of the bytes written so far."""
        ...

    def open_written(self) -> BinaryIO:
        """A new reader of this ingest's bytes from the start: those written so far, and
        those written later as they come (it reads the same file, which stays readable
        through a commit). Lets a consumer use the content while it arrives instead of
        reading it back once committed."""
        ...

    def commit(self, size: int | None = None, expected: str | None = None) -> Info:
        """Verify size and digest (when given), then publish the blob. Committing content
        that already exists succeeds and returns the existing blob's Info."""
        ...

    def suspend(self) -> None:
        """Close, keeping what was written for a later `writer(ref, resume=True)`."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Writer: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class ContentStore(Protocol):
    def info(self, dgst: str) -> Info:
        """NotFound when absent."""
        ...

    def open(self, dgst: str) -> BinaryIO:
        """A binary reader of the blob; NotFound when absent."""
        ...

    def path(self, dgst: str) -> str:
        """Filesystem path of a committed blob (for zero-copy readers); NotFound when absent."""
        ...

    def writer(self, ref: str, expected: str | None = None, *, resume: bool = False) -> Writer:
        """Start (or restart) the ingest `ref`; with `resume`, continue an interrupted one
        from its offset. Conflict when `expected` is already stored."""
        ...

    def ingests(self) -> list[IngestStatus]: ...

    def abort(self, ref: str) -> None:
        """Drop an ingest; NotFound when there is none."""
        ...

    def writing(self) -> set[str]:
        """Refs of the ingests a writer of this process has open (in-flight work, which
        a garbage collector leaves alone)."""
        ...

    def walk(self) -> Iterator[Info]: ...

    def delete(self, dgst: str) -> None:
        """NotFound when absent."""
        ...
