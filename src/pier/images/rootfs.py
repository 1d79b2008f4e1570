"""Container root file systems: an active snapshot on an image's top layer, keyed by
the container. A layer that lost its last image stays while a rootfs stands on it and
is collected when the rootfs goes."""

from __future__ import annotations

import contextlib
import threading

from pier.errors import NoSuchImage, NotFound
from pier.images.catalog import Catalog
from pier.images.gc import LayerCollector
from pier.images.store import ImageStore
from pier.snapshots.types import Mount, Snapshotter


class RootFilesystems:
    def __init__(
        self,
        *,
        store: ImageStore,
        catalog: Catalog,
        snapshotter: Snapshotter,
        collector: LayerCollector,
        lock: threading.RLock,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._snapshots = snapshotter
        self._collector = collector
        self._lock = lock

    def prepare(self, image_ref: str, key: str) -> list[Mount]:
        # Under the lock, so that GC cannot take the image's layers in between.
        with self._lock:
            row = self._store.get(self._catalog.resolve_id(image_ref))
            if row is None:
                raise NoSuchImage(image_ref)
            return self._snapshots.prepare(key, row.chain_id or None)

    def mounts(self, key: str) -> list[Mount]:
        return self._snapshots.mounts(key)

    def remove(self, key: str) -> None:
        """Remove the rootfs (absent is fine), then layers nothing needs any more."""
        with self._lock:
            with contextlib.suppress(NotFound):
                self._snapshots.remove(key)
            self._collector.collect()

    def usage(self, key: str) -> int:
        return self._snapshots.usage(key).size
