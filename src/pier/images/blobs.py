"""The layer blobs behind recorded images, as distribution and save/load need them.

A pull asks which of an image's layers (by ChainID) are here already and reuses their
blobs instead of downloading; a push and a save read an image's layer blobs and need
each one's media type (the store keeps the digest only: the compression is read from
the blob's first bytes, as containerd's DecompressStream does); a failed pull drops
the blobs it downloaded that no layer uses.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from pier.content.store import ContentStore
from pier.errors import NotFound
from pier.images.gc import LayerCollector
from pier.images.model import (
    MEDIA_TYPE_TAR,
    MEDIA_TYPE_TAR_GZIP,
    MEDIA_TYPE_TAR_ZSTD,
    LayerBlob,
)
from pier.images.store import ImageStore


def sniff_media_type(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return MEDIA_TYPE_TAR_GZIP
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return MEDIA_TYPE_TAR_ZSTD
    return MEDIA_TYPE_TAR


class LayerBlobs:
    def __init__(
        self,
        *,
        store: ImageStore,
        content: ContentStore,
        collector: LayerCollector,
        lock: threading.RLock,
    ) -> None:
        self._store = store
        self._content = content
        self._collector = collector
        self._lock = lock

    def blob(self, digest: str) -> LayerBlob:
        info = self._content.info(digest)
        with self._content.open(digest) as f:
            head = f.read(4)
        return LayerBlob(digest=digest, media_type=sniff_media_type(head), size=info.size)

    def known(self, chain_ids: Sequence[str]) -> dict[str, LayerBlob]:
        """The recorded layers among `chain_ids` whose blob is still stored."""
        out: dict[str, LayerBlob] = {}
        for chain_id in chain_ids:
            row = self._store.layer(chain_id)
            if row is None or not row.blob:
                continue
            try:
                out[chain_id] = self.blob(row.blob)
            except NotFound:  # gone with a concurrent collection: download it again
                continue
        return out

    def of_image(self, image_id: str) -> list[LayerBlob]:
        """The image's layer blobs, bottom first."""
        return [self.blob(row.blob) for row in self._store.image_layers(image_id)]

    def discard(self, digests: Sequence[str]) -> None:
        """Drop the blobs among `digests` that no recorded layer uses."""
        with self._lock:
            for digest in digests:
                self._collector.drop_blob(digest)
