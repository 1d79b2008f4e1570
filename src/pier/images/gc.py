"""Garbage collection of the image stores (containerd's model).

`LayerCollector` is the precise, incremental part: after a removal, the layers no
image uses go, with their snapshots and blobs, unless a container's root file system
(or another snapshot) still stands on them.

`GarbageCollector` is the whole sweep, run at daemon start and (debounced) after
removals: it removes every snapshot, blob and ingest that nothing references (a pull's
interrupted download excepted for a day: the next pull resumes it), and
the snapshot directories no snapshot owns. The references are: the containers' root
file systems, the layers of every image (and their parents), the blobs those layers
and the image records name (configs, manifests), and whatever an open lease holds
(pier.content.leases: work in flight). It lists what exists *before* it reads the
leases and the references, so a thing made meanwhile is either not a candidate or
already leased. Callers hold the image service's lock, so no ingest records a layer
and no removal runs while it decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from pier.content.leases import Leases
from pier.content.store import ContentStore
from pier.errors import Conflict, NotFound, PierError
from pier.images.store import ImageStore
from pier.oci import digest as dg
from pier.snapshots.types import Kind, Snapshotter

log = logging.getLogger(__name__)

# A pull's download is the ingest `pull-<digest>` (pier.distribution.fetch); when the
# pull is cut (a dropped connection, pierd killed) the next pull resumes it with
# `Range`. containerd keeps such ingests under the pull's lease, which expires after
# 24 hours; an ingest written to within that time is kept by the sweep for the same
# reason, older ones are garbage.
RESUMABLE_PREFIX = "pull-"
RESUMABLE_FOR = 24 * 3600.0


class LayerCollector:
    def __init__(
        self, *, store: ImageStore, content: ContentStore, snapshotter: Snapshotter
    ) -> None:
        self._store = store
        self._content = content
        self._snapshots = snapshotter

    def collect(self, only: Collection[str] | None = None) -> list[str]:
        """Remove unused layers (only those among the ChainIDs `only`, when given); returns
        the ChainIDs removed, top of each stack first."""
        removed: list[str] = []
        for layer in self._store.unused_layers():
            if only is not None and layer.chain_id not in only:
                continue
            try:
                self._snapshots.remove(layer.snapshot)
            except Conflict:
                continue  # a container's rootfs (or another layer) still stands on it
            except NotFound:
                pass
            self._store.delete_layer(layer.chain_id)
            if layer.blob:
                self.drop_blob(layer.blob)
            removed.append(layer.chain_id)
        return removed

    def drop_blob(self, blob: str) -> None:
        """Delete a layer blob unless a recorded layer keeps it."""
        if not self._store.blob_in_use(blob):
            with contextlib.suppress(NotFound):
                self._content.delete(blob)


@dataclass(frozen=True, slots=True, kw_only=True)
class Collected:
    """What one sweep removed."""

    snapshots: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    blobs: tuple[str, ...] = ()
    ingests: tuple[str, ...] = ()
    directories: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return any((self.snapshots, self.layers, self.blobs, self.ingests, self.directories))

    def summary(self) -> str:
        return (
            f"{len(self.snapshots)} snapshot(s), {len(self.layers)} layer record(s), "
            f"{len(self.blobs)} blob(s), {len(self.ingests)} ingest(s), "
            f"{len(self.directories)} snapshot directory(ies)"
        )


class GarbageCollector:
    def __init__(
        self,
        *,
        store: ImageStore,
        content: ContentStore,
        snapshotter: Snapshotter,
        leases: Leases,
        rootfs_keys: Callable[[], Iterable[str]] | None,
        resumable_for: float = RESUMABLE_FOR,
    ) -> None:
        self._store = store
        self._resumable_for = resumable_for
        self._content = content
        self._snapshots = snapshotter
        self._leases = leases
        # Without the containers' keys nothing tells a rootfs from garbage: then every
        # active snapshot counts as referenced.
        self._rootfs_keys = rootfs_keys

    def collect(self) -> Collected:
        # 1. What exists.
        snapshots = {s.key: s for s in self._snapshots.walk()}
        blobs = [info.digest for info in self._content.walk()]
        now = time.time()
        ingests = [
            i.ref
            for i in self._content.ingests()
            if not (
                _resumable(i.ref) and now - max(i.updated_at, i.started_at) < self._resumable_for
            )
        ]
        # 2. What in-flight work holds, read after the listing (see the module's doc).
        held = self._leases.held()
        writing = self._content.writing()
        # 3. What the records reference.
        if self._rootfs_keys is None:
            roots = {k for k, s in snapshots.items() if s.kind != Kind.COMMITTED}
        else:
            roots = set(self._rootfs_keys())
        roots |= held.snapshots | self._store.used_snapshots()
        live = _with_parents(roots, {k: s.parent for k, s in snapshots.items()})

        parents = {k: s.parent for k, s in snapshots.items()}
        dead = [k for k in snapshots if k not in live]
        removed_snapshots = self._remove_snapshots(dead, parents)
        stuck = set(dead) - set(removed_snapshots)
        layers = self._store.layers()
        removed_layers = []
        for layer in layers:
            if layer.snapshot not in live and layer.snapshot not in stuck:
                self._store.delete_layer(layer.chain_id)
                removed_layers.append(layer.chain_id)
        gone = set(removed_layers)
        live_blobs = (
            {layer.blob for layer in layers if layer.chain_id not in gone and layer.blob}
            | self._store.referenced_blobs()
            | held.blobs
        )
        removed_blobs = []
        for digest in blobs:
            if digest not in live_blobs:
                with contextlib.suppress(NotFound):
                    self._content.delete(digest)
                removed_blobs.append(digest)
        removed_ingests = []
        for ref in ingests:
            if ref not in writing and ref not in held.ingests:
                with contextlib.suppress(NotFound):
                    self._content.abort(ref)
                removed_ingests.append(ref)
        directories = self._snapshots.cleanup()
        return Collected(
            snapshots=tuple(removed_snapshots),
            layers=tuple(removed_layers),
            blobs=tuple(removed_blobs),
            ingests=tuple(removed_ingests),
            directories=tuple(directories),
        )

    def _remove_snapshots(self, dead: list[str], parents: dict[str, str | None]) -> list[str]:
        """Children before parents; one that gained a child meanwhile stays, and so do
        its ancestors (the snapshotter refuses them)."""
        removed = []
        for key in sorted(dead, key=lambda k: _depth(k, parents), reverse=True):
            try:
                self._snapshots.remove(key)
            except NotFound:
                pass
            except Conflict:
                log.debug("snapshot %s gained a child while being collected", key)
                continue
            removed.append(key)
        return removed


def _resumable(ref: str) -> bool:
    return ref.startswith(RESUMABLE_PREFIX) and dg.is_digest(ref[len(RESUMABLE_PREFIX) :])


def _with_parents(roots: set[str], parents: dict[str, str | None]) -> set[str]:
    live: set[str] = set()
    for key in roots:
        current: str | None = key
        while current is not None and current not in live:
            live.add(current)
            current = parents.get(current)
    return live


def _depth(key: str, parents: dict[str, str | None]) -> int:
    depth = 0
    current = parents.get(key)
    while current is not None:
        depth += 1
        current = parents.get(current)
    return depth


class Sweeper:
    """Runs the whole sweep on demand (`sweep`, at daemon start) and a while after
    removals (`soon`): removals come in bursts (`rm -f $(docker ps -aq)`), one sweep
    after the burst is enough. Owns its task; `close()` cancels it."""

    def __init__(
        self, *, collector: GarbageCollector, lock: threading.RLock, delay: float = 1.0
    ) -> None:
        self._collector = collector
        self._lock = lock
        self._delay = delay
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> Collected:
        def work() -> Collected:
            with self._lock:
                return self._collector.collect()

        collected = await asyncio.to_thread(work)
        if collected:
            log.info("garbage collected: %s", collected.summary())
        return collected

    def soon(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._later(), name="image-gc")

    async def _later(self) -> None:
        await asyncio.sleep(self._delay)  # the debounce: let the burst of removals end
        try:
            await self.sweep()
        except (OSError, PierError) as exc:
            log.warning("garbage collection failed: %s", exc)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
