"""The rows of the image tables (`img_*` in pier.db), as the store hands them out.

Values only: `pier.images.store` reads and writes them, `pier.images.index` holds the
image, tag and manifest rows in memory.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRow:
    id: str
    created: str
    size: int
    parent: str
    chain_id: str
    added: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRow:
    chain_id: str
    diff_id: str
    parent_chain: str
    snapshot: str
    size: int
    blob: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TagRow:
    ref: str  # normalised, e.g. docker.io/library/busybox:latest
    image_id: str
    last_tag_time: str
    familiar: str = ""  # the display form (busybox:latest), made once with the row


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestRow:
    """A manifest that resolves to an image: what `docker pull repo@digest` fetched."""

    repository: str  # normalised, e.g. docker.io/library/busybox
    digest: str  # the manifest's digest
    image_id: str

    @property
    def ref(self) -> str:
        return f"{self.repository}@{self.digest}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageView:
    """An image's row with its references as they stand. A write that touches any of
    them makes a new view, never changes one: a reader may keep what it derives from
    a view for as long as the store hands out that same object."""

    row: ImageRow
    tags: tuple[TagRow, ...]  # in the order made
    manifests: tuple[ManifestRow, ...]  # in the order recorded
    repo_tags: tuple[str, ...]  # familiar forms of `tags`
    repo_digests: tuple[str, ...]  # familiar forms of `manifests`
