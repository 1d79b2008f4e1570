"""The image, tag and manifest rows in memory, indexed the ways the catalog reads them.

dockerd keeps its image and reference stores in memory; so does Pier, for the rows a
listing or a lookup reads at every request (layers stay in SQLite: only ingests,
removals and the collector read them). The index is filled from pier.db once and
then changed by the store's write methods after each commit, so it is always the
committed state. It is not thread-safe: the store calls it under its own lock.
"""

from __future__ import annotations

import builtins
from collections.abc import Hashable, Iterable
from typing import TypeVar

from pier.images.rows import ImageRow, ImageView, ManifestRow, TagRow
from pier.oci import reference as refs

_ManifestKey = tuple[str, str]  # (repository, digest)
_K = TypeVar("_K", bound=Hashable)
_R = TypeVar("_R", TagRow, ManifestRow)


def _pop_ref(rows: dict[_K, _R], of_image: dict[str, dict[_K, _R]], key: _K) -> _R | None:
    """A tag or manifest row out of both its dicts: by key, and under its image."""
    old = rows.pop(key, None)
    if old is not None:
        mine = of_image.get(old.image_id)
        if mine is not None:
            mine.pop(key, None)
            if not mine:
                del of_image[old.image_id]
    return old


class ImageIndex:
    def __init__(
        self,
        *,
        images: Iterable[ImageRow] = (),
        tags: Iterable[TagRow] = (),
        manifests: Iterable[ManifestRow] = (),
    ) -> None:
        # Every dict keeps its rows in the order SQLite lists them (images by `added`,
        # references by `seq`): a row made again moves to the end, as its new seq does.
        self._images: dict[str, ImageRow] = {}
        self._children: dict[str, dict[str, None]] = {}
        self._tags: dict[str, TagRow] = {}
        self._tags_of: dict[str, dict[str, TagRow]] = {}
        self._manifests: dict[_ManifestKey, ManifestRow] = {}
        self._manifests_of: dict[str, dict[_ManifestKey, ManifestRow]] = {}
        self._views: dict[str, ImageView] = {}
        self.generation = 0
        """Changes at every write: what a reader derived from the whole index is current
        while this stays the same."""
        for image in images:
            self.put_image(image)
        for tag in tags:
            self.put_tag(tag)
        for manifest in manifests:
            self.put_manifest(manifest)

    # -- writes (after the transaction committed) --------------------------------------

    def _touch(self, image_id: str) -> None:
        self.generation += 1
        self._views.pop(image_id, None)

    def put_image(self, row: ImageRow) -> None:
        if row.id in self._images:
            return  # an identical config is the same image: only references are added
        self._images[row.id] = row
        if row.parent:
            self._children.setdefault(row.parent, {})[row.id] = None
        self._touch(row.id)

    def drop_image(self, image_id: str) -> None:
        """The image with its tags and manifests."""
        for ref in builtins.list(self._tags_of.get(image_id, {})):
            self.drop_tag(ref)
        for repository, digest in builtins.list(self._manifests_of.get(image_id, {})):
            self.drop_manifest(repository, digest)
        row = self._images.pop(image_id, None)
        if row is not None and row.parent:
            siblings = self._children.get(row.parent, {})
            siblings.pop(image_id, None)
            if not siblings:
                self._children.pop(row.parent, None)
        self._tags_of.pop(image_id, None)
        self._manifests_of.pop(image_id, None)
        self._touch(image_id)

    def put_tag(self, row: TagRow) -> None:
        self.drop_tag(row.ref)
        self._tags[row.ref] = row
        self._tags_of.setdefault(row.image_id, {})[row.ref] = row
        self._touch(row.image_id)

    def drop_tag(self, ref: str) -> None:
        old = _pop_ref(self._tags, self._tags_of, ref)
        if old is not None:
            self._touch(old.image_id)

    def put_manifest(self, row: ManifestRow) -> None:
        key = (row.repository, row.digest)
        self.drop_manifest(*key)
        self._manifests[key] = row
        self._manifests_of.setdefault(row.image_id, {})[key] = row
        self._touch(row.image_id)

    def drop_manifest(self, repository: str, digest: str) -> None:
        old = _pop_ref(self._manifests, self._manifests_of, (repository, digest))
        if old is not None:
            self._touch(old.image_id)

    # -- reads -------------------------------------------------------------------------

    def image(self, image_id: str) -> ImageRow | None:
        return self._images.get(image_id)

    def images(self) -> builtins.list[ImageRow]:
        return builtins.list(self._images.values())

    def view(self, image_id: str) -> ImageView | None:
        view = self._views.get(image_id)
        if view is None:
            row = self._images.get(image_id)
            if row is None:
                return None
            tags = tuple(self._tags_of.get(image_id, {}).values())
            manifests = tuple(self._manifests_of.get(image_id, {}).values())
            view = ImageView(
                row=row,
                tags=tags,
                manifests=manifests,
                repo_tags=tuple(t.familiar for t in tags),
                repo_digests=tuple(refs.familiar(m.ref) for m in manifests),
            )
            self._views[image_id] = view
        return view

    def kept_view(self, image_id: str) -> ImageView | None:
        """The view made since the image last changed, or None: reads one dict and
        makes nothing, so it may run without the store's lock."""
        return self._views.get(image_id)

    def views(self) -> builtins.list[ImageView]:
        """Every image's view, oldest image first."""
        out: builtins.list[ImageView] = []
        for image_id in self._images:
            view = self.view(image_id)
            assert view is not None
            out.append(view)
        return out

    def children(self, image_id: str) -> builtins.list[str]:
        return builtins.list(self._children.get(image_id, {}))

    def search_prefix(self, hex_prefix: str) -> builtins.list[str]:
        prefix = "sha256:" + hex_prefix
        return [image_id for image_id in self._images if image_id.startswith(prefix)]

    def tags(self) -> builtins.list[TagRow]:
        return builtins.list(self._tags.values())

    def tags_of(self, image_id: str) -> builtins.list[TagRow]:
        return builtins.list(self._tags_of.get(image_id, {}).values())

    def tag_target(self, ref: str) -> str | None:
        row = self._tags.get(ref)
        return row.image_id if row is not None else None

    def manifests(self) -> builtins.list[ManifestRow]:
        return builtins.list(self._manifests.values())

    def manifests_of(self, image_id: str) -> builtins.list[ManifestRow]:
        return builtins.list(self._manifests_of.get(image_id, {}).values())

    def manifest_target(self, repository: str, digest: str) -> str | None:
        row = self._manifests.get((repository, digest))
        return row.image_id if row is not None else None

    def referenced_blobs(self) -> set[str]:
        return set(self._images) | {digest for _, digest in self._manifests}
