"""ImageService: the thin async facade over the image modules.

Each method runs one blocking operation (SQLite, content store, snapshotter, unpack) in
a worker thread, then publishes the image events it produced on the event loop (the
EventBus is not thread-safe). The jobs live in their own modules: `catalog` (lookups,
list, history), `ingest` (blobs -> snapshots -> recorded image), `archive` (import),
`tags` (references), `remove` (rmi), `gc` (layers), `rootfs` (containers' root file
systems). One lock serialises what must not interleave: recording an ingest's layers,
removal and layer GC, and preparing a rootfs on a layer.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import contextvars
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from pier.content.leases import Lease, Leases
from pier.content.store import ContentStore
from pier.images.archive import import_tar
from pier.images.blobs import LayerBlobs
from pier.images.budget import Budget
from pier.images.catalog import Catalog
from pier.images.gc import Collected, GarbageCollector, LayerCollector, Sweeper
from pier.images.ingest import Ingester, IngestProgress, LayerSource
from pier.images.model import (
    MEDIA_TYPE_TAR,
    EventPublisher,
    HistoryItem,
    ImageEvent,
    ImageRecord,
    ImageUsers,
    LayerBlob,
    ManifestRef,
)
from pier.images.remove import Remover
from pier.images.rootfs import RootFilesystems
from pier.images.store import ImageStore
from pier.images.tags import References
from pier.metadata import Database
from pier.oci import reference as refs
from pier.snapshots.types import Mount, Snapshotter

__all__ = ["HistoryItem", "ImageRecord", "ImageService"]


class ImageService:
    def __init__(
        self,
        *,
        leases: Leases | None = None,
        rootfs_keys: Callable[[], Iterable[str]] | None = None,
        data_root: Path,
        db: Database,
        content: ContentStore,
        snapshotter: Snapshotter,
        image_users: ImageUsers,
        running_image_users: ImageUsers | None = None,
        events: EventPublisher | None = None,
        max_unpack_size: int | None = None,
        unpack_workers: int = 4,
    ) -> None:
        self._tmp = data_root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        # An ingest reading layers as they download (a pull) waits for its downloads,
        # whose writes go through the loop's shared I/O threads: were it waiting in one
        # of those, a few concurrent pulls would hold them all and starve their own
        # downloads (and the whole daemon). Such ingests wait in threads of their own.
        self._streamed = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ingest")
        self._content = content
        self._snapshotter = snapshotter
        self._events = events
        lock = threading.RLock()
        store = ImageStore(db=db)
        self._store = store
        self._catalog = Catalog(store=store, content=content)
        collector = LayerCollector(store=store, content=content, snapshotter=snapshotter)
        self._ingester = Ingester(
            store=store,
            content=content,
            snapshotter=snapshotter,
            collector=collector,
            lock=lock,
            max_unpack_size=max_unpack_size,
            unpack_workers=unpack_workers,
        )
        self._refs = References(store=store, catalog=self._catalog)
        self._lock = lock
        self._remover = Remover(
            store=store,
            content=content,
            catalog=self._catalog,
            references=self._refs,
            collector=collector,
            image_users=image_users,
            # Running users make a removal conflict that force cannot override (Docker's
            # rule); without this collaborator every user counts as a stopped one.
            running_image_users=running_image_users or (lambda _id: ()),
            lock=lock,
        )
        self._blobs = LayerBlobs(store=store, content=content, collector=collector, lock=lock)
        self._rootfs = RootFilesystems(
            store=store,
            catalog=self._catalog,
            snapshotter=snapshotter,
            collector=collector,
            lock=lock,
        )
        self._leases = leases if leases is not None else Leases()
        self._rootfs_keys = rootfs_keys
        self._sweeper = Sweeper(
            collector=GarbageCollector(
                store=store,
                content=content,
                snapshotter=snapshotter,
                leases=self._leases,
                rootfs_keys=rootfs_keys,
            ),
            lock=lock,
        )

    @property
    def content(self) -> ContentStore:
        """The content store blobs are ingested through (pull and load write to it)."""
        return self._content

    @property
    def tmp_dir(self) -> Path:
        """Where callers stage uploads (same filesystem as the stores)."""
        return self._tmp

    async def close(self) -> None:
        await self._sweeper.close()
        await asyncio.to_thread(self._streamed.shutdown, wait=True, cancel_futures=True)
        await asyncio.to_thread(self._ingester.close)

    # -- garbage collection (pier.images.gc, pier.content.leases) ----------------------

    def lease(self, name: str) -> contextlib.AbstractContextManager[Lease]:
        """Hold what the work inside makes (blobs, ingests, snapshots) until it is
        recorded: the garbage collector leaves it alone meanwhile."""
        return self._leases.lease(name)

    async def collect_garbage(self) -> Collected:
        """Remove every snapshot, blob and ingest nothing references (at daemon start)."""
        return await self._sweeper.sweep()

    def _collect_soon(self) -> None:
        if self._rootfs_keys is not None:  # without the containers' keys: at start only
            self._sweeper.soon()

    def _publish(self, events: Sequence[ImageEvent]) -> None:
        if self._events is None:
            return
        for e in events:
            self._events.publish("image", e.action, e.image_id, e.attributes())

    # -- reading -----------------------------------------------------------------------

    def config_bytes(self, image_id: str) -> bytes:
        return self._catalog.config_bytes(image_id)

    async def resolve(self, ref: str) -> ImageRecord:
        rec = self._catalog.peek(ref)  # kept and current: no thread needed
        if rec is not None:
            return rec
        return await asyncio.to_thread(self._catalog.get, ref)

    async def list(
        self, *, all: bool = False, filters: Mapping[str, Sequence[str]] | None = None
    ) -> builtins.list[ImageRecord]:
        if not filters:
            listed = self._catalog.listed(all)  # kept and current: no thread needed
            if listed is not None:
                return listed
        return await asyncio.to_thread(self._catalog.list, all, filters or {})

    async def history(self, ref: str) -> builtins.list[HistoryItem]:
        return await asyncio.to_thread(self._catalog.history, ref)

    # -- making images -----------------------------------------------------------------

    async def import_archive(
        self,
        path: Path,
        *,
        repo: str | None,
        tag: str | None,
        changes: Sequence[str] = (),
        message: str = "",
        platform: str | None = None,
    ) -> ImageRecord:
        def work() -> tuple[ImageRecord, list[ImageEvent]]:
            done = import_tar(
                content=self._content,
                ingester=self._ingester,
                path=path,
                repo=repo,
                tag=tag,
                changes=changes,
                message=message,
                platform=platform,
            )
            events: list[ImageEvent] = []
            if done.tag is not None:
                events.append(self._catalog.event("tag", done.image_id, done.tag.familiar()))
            events.append(self._catalog.event("import", done.image_id, done.image_id))
            return self._catalog.get(done.image_id), events

        with self._leases.lease("import"):  # its blob and snapshots, until recorded
            record, events = await asyncio.to_thread(work)
        self._publish(events)
        return record

    async def ingest(
        self,
        *,
        layers: Sequence[LayerBlob],
        config: bytes,
        tags: Sequence[refs.Reference] = (),
        manifests: Sequence[ManifestRef] = (),
        parent: str = "",
        progress: IngestProgress | None = None,
        sources: Mapping[int, LayerSource] | None = None,
        made_here: bool = False,
        budget: Budget | None = None,
    ) -> ImageRecord:
        """Record an image from layer blobs in the content store, or arriving there
        (`sources`; see `pier.images.ingest`; `made_here` as there). Publishes no
        event: the caller logs its own (pull, load)."""

        def work() -> ImageRecord:
            image_id = self._ingester.ingest(
                layers=layers,
                config=config,
                tags=tags,
                manifests=manifests,
                parent=parent,
                progress=progress,
                sources=sources,
                made_here=made_here,
                budget=budget,
            )
            return self._catalog.get(image_id)

        with self._leases.lease("ingest"):  # the caller's blobs and the snapshots made
            if sources:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(
                    self._streamed, contextvars.copy_context().run, work
                )
            return await asyncio.to_thread(work)

    def upload_budget(self) -> Budget | None:
        """The daemon's `max-unpack-size` for one upload whose images are ingested one
        by one (a load): pass it to each `ingest`."""
        return self._ingester.upload_budget()

    async def log_event(self, action: str, image_id: str, name: str) -> None:
        """Publish an image event as moby's LogImageEvent does (with the image's labels)."""
        event = await asyncio.to_thread(self._catalog.event, action, image_id, name)
        self._publish([event])

    # -- layer blobs of pulls (see pier.images.blobs) ----------------------------------

    async def known_layers(self, chain_ids: Sequence[str]) -> dict[str, LayerBlob]:
        return await asyncio.to_thread(self._blobs.known, chain_ids)

    async def layer_blobs(self, image_id: str) -> builtins.list[LayerBlob]:
        return await asyncio.to_thread(self._blobs.of_image, image_id)

    async def discard_blobs(self, digests: Sequence[str]) -> None:
        await asyncio.to_thread(self._blobs.discard, digests)

    # -- references --------------------------------------------------------------------

    async def tag(self, ref: str, repo: str, tag: str | None) -> None:
        def work() -> ImageEvent:
            with self._lock:
                return self._refs.tag(ref, repo, tag)

        self._publish([await asyncio.to_thread(work)])

    async def add_manifest(self, repository: str, digest: str, ref: str) -> None:
        """Record a RepoDigest: `repository@digest` resolves to the image `ref` names."""

        def work() -> None:
            with self._lock:
                self._refs.add_manifest(repository, digest, ref)

        await asyncio.to_thread(work)

    async def remove(
        self, ref: str, *, force: bool = False, noprune: bool = False
    ) -> builtins.list[dict[str, str]]:
        # Untagged parents (a classic build's steps) go too unless noprune.
        removal = await asyncio.to_thread(self._remover.remove, ref, force=force, prune=not noprune)
        self._publish(removal.events)
        self._collect_soon()
        return [dict(r) for r in removal.records]

    # -- container root filesystems ----------------------------------------------------

    async def prepare_rootfs(self, image_id: str, key: str) -> builtins.list[Mount]:
        return await asyncio.to_thread(self._rootfs.prepare, image_id, key)

    async def rootfs_mounts(self, key: str) -> builtins.list[Mount]:
        return await asyncio.to_thread(self._rootfs.mounts, key)

    async def remove_rootfs(self, key: str) -> None:
        await asyncio.to_thread(self._rootfs.remove, key)
        self._collect_soon()

    async def rootfs_usage(self, key: str) -> int:
        return await asyncio.to_thread(self._rootfs.usage, key)

    # -- builds and commits (pier.build) -----------------------------------------------

    async def prepare_empty_rootfs(self, key: str) -> builtins.list[Mount]:
        """A writable snapshot on nothing (a build stage `FROM scratch`)."""
        return await asyncio.to_thread(self._snapshotter.prepare, key)

    async def store_layer(self, produce: Callable[[BinaryIO], None]) -> LayerBlob:
        """Store the uncompressed layer tar `produce` writes as a blob (its digest is
        its DiffID). Until an ingest records it, the blob is not kept: pass it to
        `ingest` (which drops it on failure)."""

        def work() -> LayerBlob:
            with self._content.writer(f"layer-{uuid.uuid4().hex}") as writer:
                produce(writer)  # type: ignore[arg-type]
                info = writer.commit()
            return LayerBlob(digest=info.digest, media_type=MEDIA_TYPE_TAR, size=info.size)

        return await asyncio.to_thread(work)

    async def children(self, image_id: str) -> builtins.list[str]:
        """Images whose parent is `image_id` (the classic builder's cache candidates)."""
        return await asyncio.to_thread(self._store.children, image_id)
