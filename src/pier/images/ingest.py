"""Ingest: layer blobs in the content store + an image config -> a recorded image.

The one path by which images come into being (import now; load, pull, build and commit
later). For each layer whose ChainID is not recorded yet, the blob is unpacked into a
fresh *parentless* extraction snapshot, all such layers of the image at once in worker
threads: a layer's diff does not need its parent's files (whiteouts become 0/0
character devices, opaque directories an xattr, both acting only once stacked). Then,
under the service lock and bottom first, each is committed under its ChainID on its
parent's (Snapshotter.commit_diff) and recorded, the config blob is stored, and the
image is recorded with its tags and manifests in one transaction.

Guarantees: a layer's blob digest and size, and its DiffID against the config, are
verified while unpacking; nothing is visible before the final transaction; on any error
nothing is left (no extraction snapshot, no layer row, no config or layer blob that no
recorded layer uses, no tag).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from pier import timefmt
from pier.content.store import ContentStore
from pier.errors import Conflict, InvalidParameter, NotFound
from pier.images.budget import Budget
from pier.images.gc import LayerCollector
from pier.images.model import LAYER_MEDIA_TYPES, LayerBlob, ManifestRef
from pier.images.store import ImageRow, ImageStore, LayerRow, ManifestRow
from pier.images.unpack import apply_layer
from pier.oci import digest as dg
from pier.oci import reference as refs
from pier.oci.image import ImageSpec
from pier.snapshots.types import Snapshotter


class IngestProgress(Protocol):
    """Hears about each layer of an ingest (pull's progress lines will come from here).
    Called from worker threads, concurrently: implementations must be thread-safe."""

    def layer_exists(self, index: int, blob: LayerBlob) -> None: ...

    def layer_started(self, index: int, blob: LayerBlob) -> None: ...

    def layer_done(self, index: int, blob: LayerBlob) -> None: ...


# Opens a layer's blob while it still arrives (a pull's download): reading it ends only
# once the blob is committed to the content store, verified.
LayerSource = Callable[[], BinaryIO]


class _Silent:
    def layer_exists(self, index: int, blob: LayerBlob) -> None:
        return None

    def layer_started(self, index: int, blob: LayerBlob) -> None:
        return None

    def layer_done(self, index: int, blob: LayerBlob) -> None:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Staged:
    """A layer unpacked into the extraction snapshot `key`, not yet committed."""

    key: str
    size: int


class Ingester:
    def __init__(
        self,
        *,
        store: ImageStore,
        content: ContentStore,
        snapshotter: Snapshotter,
        collector: LayerCollector,
        lock: threading.RLock,
        max_unpack_size: int | None = None,
        unpack_workers: int = 4,
    ) -> None:
        self._store = store
        # The daemon's `max-unpack-size`: what the layers of one ingest from outside
        # may write together (None: no bound).
        self._max_unpack_size = max_unpack_size
        self._content = content
        self._snapshots = snapshotter
        self._collector = collector
        self._lock = lock
        # Unpacking is bound by file creation on disk, not by the CPU: a few threads
        # overlap the waits. Its own pool, so an ingest running in the default executor
        # never waits on a slot of the pool it occupies.
        self._pool = ThreadPoolExecutor(max_workers=unpack_workers, thread_name_prefix="unpack")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def ingest(
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
    ) -> str:
        """Record the image made of `layers` (bottom first, blobs in the content store,
        or arriving there: `sources` reads layer i as it comes) and `config`; returns
        its ID. `tags` must be normalised and tagged. `made_here`: the layers are Pier's
        own, diffs of a container's files (commit, build steps), which the daemon's
        `max-unpack-size` does not bound: it is for what comes from outside. `budget`:
        one shared with the other images of the same upload (a load's), see
        `upload_budget`."""
        if made_here:
            budget = None
        elif budget is None:
            budget = self.upload_budget()
        sources = sources or {}
        pending: dict[int, _Staged] = {}
        try:
            spec = ImageSpec.from_bytes(config)
            image_id = dg.from_bytes(config)
            if len(spec.diff_ids) != len(layers):
                raise InvalidParameter(
                    f"image config lists {len(spec.diff_ids)} layers but {len(layers)} were given"
                )
            for ref in tags:
                if ref.digest:
                    raise InvalidParameter("refusing to create a tag with a digest reference")
                if not ref.tag:
                    raise InvalidParameter(f"{ref}: a tag is needed")
            manifest_rows = [_manifest_row(m, image_id) for m in manifests]
            chain = dg.chain_ids(spec.diff_ids)
            for index, blob in enumerate(layers):
                _check_media_type(blob)
                if index not in sources:
                    self._check_blob(blob)
            pending.update(
                self._unpack(layers, spec.diff_ids, chain, progress or _Silent(), sources, budget)
            )
            with self._lock:
                committed: list[str] = []
                try:
                    sizes = self._commit_layers(layers, spec.diff_ids, chain, pending, committed)
                    self._store_config(config, image_id)
                    row = ImageRow(
                        id=image_id,
                        created=spec.created,
                        size=sum(sizes),
                        parent=parent,
                        chain_id=chain[-1] if chain else "",
                        added=time.time(),
                    )
                    self._store.add_image(
                        row,
                        chain,
                        tags=[str(t) for t in tags],
                        manifests=manifest_rows,
                        when=timefmt.now(),
                    )
                except BaseException:
                    self._collector.collect(only=committed)
                    if self._store.get(image_id) is None:
                        with contextlib.suppress(NotFound):
                            self._content.delete(image_id)
                    raise
        finally:
            for staged in pending.values():
                with contextlib.suppress(NotFound):
                    self._snapshots.remove(staged.key)
            # Blobs no recorded layer uses: those of a failed ingest, and duplicates of a
            # layer recorded earlier from another blob (the same diff compressed otherwise).
            # A streamed layer's blob is its download's, which may still be committing it
            # when this ingest fails first: the content sweep collects it once unused.
            with self._lock:
                for index, blob in enumerate(layers):
                    if index not in sources:
                        self._collector.drop_blob(blob.digest)
        return image_id

    def upload_budget(self) -> Budget | None:
        """What one upload from outside may write (None: no bound)."""
        limit = self._max_unpack_size
        return Budget(limit) if limit is not None else None

    def _check_blob(self, blob: LayerBlob) -> None:
        info = self._content.info(dg.validate(blob.digest))
        if info.size != blob.size:
            raise InvalidParameter(
                f"layer {blob.digest}: size {info.size} does not match the expected {blob.size}"
            )

    def _unpack(
        self,
        layers: Sequence[LayerBlob],
        diff_ids: Sequence[str],
        chain: Sequence[str],
        progress: IngestProgress,
        sources: Mapping[int, LayerSource],
        budget: Budget | None,
    ) -> dict[int, _Staged]:
        """Unpack every layer not recorded yet, concurrently; all or nothing."""
        futures: dict[int, Future[_Staged]] = {}
        for index, blob in enumerate(layers):
            if self._store.layer(chain[index]) is not None:
                progress.layer_exists(index, blob)
                continue
            # Each worker runs in a copy of the caller's context: the caller's lease
            # (pier.content.leases) then holds the extraction snapshots it prepares.
            futures[index] = self._pool.submit(
                contextvars.copy_context().run,
                self._unpack_one,
                index,
                blob,
                diff_ids[index],
                progress,
                sources.get(index),
                budget,
            )
        staged: dict[int, _Staged] = {}
        error: BaseException | None = None
        for index, future in futures.items():
            # Wait for every worker, failed or not, so that nothing is left running.
            try:
                staged[index] = future.result()
            except BaseException as exc:
                error = error or exc
        if error is not None:
            for done in staged.values():
                with contextlib.suppress(NotFound):
                    self._snapshots.remove(done.key)
            raise error
        return staged

    def _unpack_one(
        self,
        index: int,
        blob: LayerBlob,
        diff_id: str,
        progress: IngestProgress,
        source: LayerSource | None,
        budget: Budget | None,
    ) -> _Staged:
        key = f"extract-{uuid.uuid4().hex}"
        self._snapshots.prepare(key)
        try:
            progress.layer_started(index, blob)
            with (source or functools.partial(self._content.open, blob.digest))() as f:
                # A source's bytes are those its writer hashed and verified on commit.
                result = apply_layer(
                    f,
                    Path(self._snapshots.fs_path(key)),
                    budget=budget,
                    verified=source is not None,
                )
            if source is not None:
                self._check_blob(blob)  # the stream ended: its blob is committed
            digest = blob.digest if source is not None else result.compressed_digest
            if digest != blob.digest or result.compressed_size != blob.size:
                raise InvalidParameter(
                    f"layer {blob.digest}: content does not match its digest "
                    f"(read {result.compressed_size} bytes, {result.compressed_digest})"
                )
            if result.diff_id != diff_id:
                raise InvalidParameter(
                    f"invalid diffID for layer {index}: expected {diff_id!r}, "
                    f"got {result.diff_id!r}"
                )
        except BaseException:
            with contextlib.suppress(NotFound):
                self._snapshots.remove(key)
            raise
        progress.layer_done(index, blob)
        return _Staged(key=key, size=result.size)

    def _commit_layers(
        self,
        layers: Sequence[LayerBlob],
        diff_ids: Sequence[str],
        chain: Sequence[str],
        pending: dict[int, _Staged],
        committed: list[str],
    ) -> list[int]:
        """Commit and record the staged layers bottom first (caller holds the lock);
        returns every layer's size. Consumes `pending`, appends to `committed`."""
        sizes: list[int] = []
        parent: str | None = None
        for index, chain_id in enumerate(chain):
            existing = self._store.layer(chain_id)
            staged = pending.get(index)
            if existing is not None:
                # Recorded already (maybe by a concurrent ingest that won the race).
                sizes.append(existing.size)
            elif staged is None:
                raise Conflict("layer was removed while being imported: try again")
            else:
                self._snapshots.commit_diff(chain_id, staged.key, parent)
                del pending[index]
                committed.append(chain_id)
                self._store.add_layer(
                    LayerRow(
                        chain_id=chain_id,
                        diff_id=diff_ids[index],
                        parent_chain=parent or "",
                        snapshot=chain_id,
                        size=staged.size,
                        blob=layers[index].digest,
                    )
                )
                sizes.append(staged.size)
            parent = chain_id
        return sizes

    def _store_config(self, config: bytes, image_id: str) -> None:
        try:
            self._content.info(image_id)
            return
        except NotFound:
            pass
        with self._content.writer(f"config-{image_id}", expected=image_id) as w:
            w.write(config)
            w.commit(len(config), image_id)


def _check_media_type(blob: LayerBlob) -> None:
    if blob.media_type not in LAYER_MEDIA_TYPES:
        raise InvalidParameter(f"unsupported layer media type {blob.media_type!r}")


def _manifest_row(m: ManifestRef, image_id: str) -> ManifestRow:
    named = refs.parse_normalized(m.repository)
    if not named.name_only:
        raise InvalidParameter(f"{m.repository}: a repository without tag or digest is needed")
    return ManifestRow(repository=named.name, digest=dg.validate(m.digest), image_id=image_id)
