"""`--cache-from` for the classic builder, as moby's image/cache.ImageCache does it.

With cache sources the builder's own parent/child cache counts only for images that
are ancestors of a source; otherwise a step is taken from a source image whose history
starts with the current image's history and whose next entry was made by the same
command (`created_by`, where COPY names its files' digest). The step's image is then
"restored": a new image on the current one with that history entry and, for a step
that made a layer, the source's layer (already here: no work, no container). When the
source's history ends there, the source itself is the step's image. After the first
restored step only that source is followed (moby's "avoid jumping to a different
target").

Sources are local images, as for dockerd's classic builder: one that is not here is
skipped (dockerd logs it and goes on). BuildKit would also read registry caches and
the inline cache of a pushed image; the classic builder, which `POST /build` with
`version=1` is, never does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pier import timefmt
from pier.build.model import BuildImages
from pier.errors import NotFound
from pier.images.model import ImageRecord
from pier.oci.image import ImageConfig, ImageSpec

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Found:
    """The step's image: an existing source or a restored image."""

    record: ImageRecord


class SourceCache:
    def __init__(self, *, images: BuildImages, refs: tuple[str, ...]) -> None:
        self._images = images
        self._refs = refs
        self._sources: list[ImageRecord] | None = None

    async def _load(self) -> list[ImageRecord]:
        if self._sources is None:
            found = []
            for ref in self._refs:
                try:
                    record = await self._images.resolve(ref)
                except NotFound:
                    log.warning("could not look up %s for cache resolution, skipping", ref)
                    continue
                if not _layers_agree(record):
                    # Restoring a step takes the layer its history entry counts to;
                    # with a history that does not match the layers, that count names
                    # another layer or none (moby's getLayerForHistoryIndex would
                    # index out of range there).
                    log.warning("%s: history does not match its layers, not a cache source", ref)
                    continue
                found.append(record)
            self._sources = found
        return self._sources

    async def is_ancestor(self, image_id: str) -> bool:
        """`image_id` is a parent (or further ancestor) of a source."""
        for source in await self._load():
            current = source.parent
            seen = 0
            while current and seen < 1000:
                if current == image_id:
                    return True
                try:
                    current = (await self._images.resolve(current)).parent
                except NotFound:
                    break
                seen += 1
        return False

    async def find(
        self, parent: ImageRecord | None, created_by: str, config: ImageConfig
    ) -> Found | None:
        """The step on `parent` (None: from scratch) made by `created_by`, from a source."""
        history = parent.history if parent is not None else ()
        diff_ids = parent.diff_ids if parent is not None else ()
        for target in await self._load():
            if not _valid_parent(target, parent):
                continue
            if target.history[len(history)].created_by != created_by:
                continue
            if len(target.history) - 1 == len(history):
                return Found(record=target)
            restored = await self._restore(parent, target, config, len(history), diff_ids)
            self._sources = [target]
            return Found(record=restored)
        return None

    async def _restore(
        self,
        parent: ImageRecord | None,
        target: ImageRecord,
        config: ImageConfig,
        index: int,
        diff_ids: tuple[str, ...],
    ) -> ImageRecord:
        entry = target.history[index]
        blobs = list(await self._images.layer_blobs(parent.id)) if parent is not None else []
        layers = diff_ids
        if not entry.empty_layer:
            position = sum(1 for h in target.history[:index] if not h.empty_layer)
            target_blobs = await self._images.layer_blobs(target.id)
            blobs.append(target_blobs[position])
            layers = (*diff_ids, target.diff_ids[position])
        spec = ImageSpec(
            architecture=target.architecture,
            os=target.os or "linux",
            variant=target.variant,
            author=entry.author,
            created=entry.created or timefmt.now(),
            parent=parent.id if parent is not None else "",
            config=config,
            diff_ids=layers,
            history=(*(parent.history if parent is not None else ()), entry),
        )
        return await self._images.ingest(
            layers=blobs, config=spec.to_bytes(), parent=parent.id if parent is not None else ""
        )


def _layers_agree(record: ImageRecord) -> bool:
    """The image's history counts as many layer-making steps as it has layers."""
    made = sum(1 for h in record.history if not h.empty_layer)
    return made == len(record.diff_ids)


def _valid_parent(target: ImageRecord, parent: ImageRecord | None) -> bool:
    """moby's isValidParent: the parent's history and layers start the target's."""
    if not target.history:
        return False
    if parent is None or (not parent.history and not parent.diff_ids):
        return True
    if len(parent.history) >= len(target.history):
        return False
    if len(parent.diff_ids) > len(target.diff_ids):
        return False
    return tuple(target.history[: len(parent.history)]) == tuple(parent.history) and tuple(
        target.diff_ids[: len(parent.diff_ids)]
    ) == tuple(parent.diff_ids)
