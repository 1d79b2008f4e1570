"""Leases: in-flight work's hold on content and snapshots (containerd's model).

A garbage collector removes whatever nothing references; work that has made a blob,
an ingest or a snapshot but has not recorded the image or container that will
reference it (an import unpacking, a create between its snapshot and its record)
holds a *lease* on it meanwhile. Work opens a lease with `Leases.lease()`; while it is
open in the current context (a contextvar, so it follows `asyncio.to_thread` and any
pool submission made with a copied context), the content store and the snapshotter
add every ingest, blob and snapshot they make to it, *before* the thing becomes
visible, so a collector that lists first and reads the leases afterwards never sees
it unprotected.

Leases live in memory: they protect the work of this pierd, and a crash ends that work,
so what a dead pierd leased is garbage the collector at the next start removes.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class Resource(StrEnum):
    BLOB = "content"  # a committed blob, by digest
    INGEST = "ingest"  # an ingest, by ref
    SNAPSHOT = "snapshot"  # a snapshot, by key or name


@dataclass(slots=True)
class Lease:
    id: str
    resources: dict[Resource, set[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Held:
    """What every open lease holds, by kind of resource."""

    blobs: frozenset[str] = frozenset()
    ingests: frozenset[str] = frozenset()
    snapshots: frozenset[str] = frozenset()


class Leases:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, Lease] = {}
        self._ids = itertools.count(1)
        self._current: contextvars.ContextVar[Lease | None] = contextvars.ContextVar(
            f"pier-lease-{id(self)}", default=None
        )

    @contextlib.contextmanager
    def lease(self, name: str) -> Iterator[Lease]:
        """Hold what the work done inside makes until the block ends. Nested leases
        are one: the outer lease holds everything."""
        outer = self._current.get()
        if outer is not None:
            yield outer
            return
        lease = Lease(id=f"{name}-{next(self._ids)}")
        with self._lock:
            self._open[lease.id] = lease
        token = self._current.set(lease)
        try:
            yield lease
        finally:
            self._current.reset(token)
            with self._lock:
                del self._open[lease.id]

    def track(self, kind: Resource, key: str) -> None:
        """Add `key` to the current context's lease, if there is one."""
        lease = self._current.get()
        if lease is None:
            return
        with self._lock:
            lease.resources.setdefault(kind, set()).add(key)

    def add(self, lease: Lease, kind: Resource, key: str) -> None:
        """Add `key` to `lease` explicitly (work spanning contexts)."""
        with self._lock:
            lease.resources.setdefault(kind, set()).add(key)

    def held(self) -> Held:
        with self._lock:
            found: dict[Resource, set[str]] = {kind: set() for kind in Resource}
            for lease in self._open.values():
                for kind, keys in lease.resources.items():
                    found[kind] |= keys
        return Held(
            blobs=frozenset(found[Resource.BLOB]),
            ingests=frozenset(found[Resource.INGEST]),
            snapshots=frozenset(found[Resource.SNAPSHOT]),
        )
