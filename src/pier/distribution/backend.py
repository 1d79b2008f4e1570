"""What distribution needs of the image service (a Protocol: the Engine hands it the real
ImageService; nothing here imports it)."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pier.content.store import ContentStore
from pier.images.ingest import IngestProgress, LayerSource
from pier.images.model import ImageRecord, LayerBlob, ManifestRef
from pier.oci import reference as refs


class ImageBackend(Protocol):
    @property
    def content(self) -> ContentStore: ...

    def config_bytes(self, image_id: str) -> bytes: ...

    async def resolve(self, ref: str) -> ImageRecord: ...

    async def known_layers(self, chain_ids: Sequence[str]) -> dict[str, LayerBlob]: ...

    async def layer_blobs(self, image_id: str) -> builtins.list[LayerBlob]: ...

    async def discard_blobs(self, digests: Sequence[str]) -> None: ...

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
    ) -> ImageRecord: ...

    async def tag(self, ref: str, repo: str, tag: str | None) -> None: ...

    async def add_manifest(self, repository: str, digest: str, ref: str) -> None: ...

    async def log_event(self, action: str, image_id: str, name: str) -> None: ...


def lease(images: object, name: str) -> contextlib.AbstractContextManager[Any]:
    """The image service's lease (`ImageService.lease`: what the work inside stores is
    safe from its garbage collector until recorded), or nothing where there is none."""
    make = getattr(images, "lease", None)
    return make(name) if make is not None else contextlib.nullcontext()
