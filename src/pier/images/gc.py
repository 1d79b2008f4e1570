"""Layer garbage collection: a layer no image uses goes, with its snapshot and its blob,
unless a container's root file system (or another snapshot) still stands on it.

Callers hold the image service's lock, so an ingest cannot pick up a layer that is
being collected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection

from pier.content.store import ContentStore
from pier.errors import Conflict, NotFound
from pier.images.store import ImageStore
from pier.snapshots.types import Snapshotter


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
