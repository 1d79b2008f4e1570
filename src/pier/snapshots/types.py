"""The Snapshotter interface and its values.

Vocabulary (containerd's): an *active* snapshot (identified by a `key`) is a writable
directory stacked on an optional *committed* parent (identified by a `name`); a *view*
is a read-only active snapshot; `commit` turns an active snapshot into a committed one
that others may use as a parent. Keys and names share one namespace. A snapshotter
returns the mounts that assemble a snapshot; it never mounts anything itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """One mount(2) call, target-less: the caller decides where it goes."""

    type: str  # "bind" or "overlay"
    source: str
    options: tuple[str, ...] = ()


class Kind(StrEnum):
    ACTIVE = "active"
    VIEW = "view"
    COMMITTED = "committed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotInfo:
    key: str  # the key of an active snapshot, the name of a committed one
    kind: Kind
    parent: str | None
    created: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    size: int  # bytes on disk used by this snapshot's own layer
    inodes: int


class Snapshotter(Protocol):
    def prepare(self, key: str, parent: str | None = None) -> list[Mount]:
        """A new writable snapshot on `parent` (a committed name). Conflict if `key` exists."""
        ...

    def view(self, key: str, parent: str | None = None) -> list[Mount]:
        """A new read-only snapshot of `parent`."""
        ...

    def commit(self, name: str, key: str) -> None:
        """Turn the active snapshot `key` into the committed snapshot `name`."""
        ...

    def commit_diff(self, name: str, key: str, parent: str | None) -> None:
        """Commit the parentless active snapshot `key` as `name` stacked on the committed
        `parent`. `key` must hold a diff in this snapshotter's layer form (overlay: deletions
        as 0/0 character devices, opaque directories marked by xattr), which is what lets
        the layers of one image be unpacked side by side and chained afterwards.
        InvalidParameter if `key` has a parent or is not active, NotFound if `parent` is
        absent, Conflict if `name` exists; on error nothing changes."""
        ...

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of an existing active snapshot or view."""
        ...

    def stat(self, key: str) -> SnapshotInfo: ...

    def usage(self, key: str) -> Usage: ...

    def remove(self, key: str) -> None:
        """Remove a snapshot; Conflict if it has children, NotFound if absent."""
        ...

    def walk(self) -> Iterator[SnapshotInfo]: ...

    def cleanup(self) -> list[str]:
        """Remove what the snapshotter holds on disk that no snapshot owns (left by a
        crash); returns what went (containerd's Cleaner)."""
        ...

    def fs_path(self, key: str) -> str:
        """The directory holding the snapshot's own files (where a layer is unpacked)."""
        ...
