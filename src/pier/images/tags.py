"""References: tagging (`docker tag`), removing one reference, and recording the
manifest digests that become RepoDigests. Callers hold the service lock."""

from __future__ import annotations

from pier import timefmt
from pier.errors import InvalidParameter
from pier.images.catalog import Catalog
from pier.images.model import ImageEvent
from pier.images.store import ImageStore
from pier.oci import digest as dg
from pier.oci import reference as refs


class References:
    def __init__(self, *, store: ImageStore, catalog: Catalog) -> None:
        self._store = store
        self._catalog = catalog

    def tag(self, ref: str, repo: str, tag: str | None) -> ImageEvent:
        """Point `repo:tag` at the image `ref` names (moby's TagImage: a tag elsewhere
        moves); the `tag` event to publish."""
        image_id = self._catalog.resolve_id(ref)
        if not repo:
            raise InvalidParameter("repository name must have at least one component")
        new_ref = refs.parse_normalized(repo)
        if tag:
            new_ref = new_ref.with_tag(tag)
        if new_ref.digest:
            raise InvalidParameter("refusing to create a tag with a digest reference")
        new_ref = new_ref.with_default_tag()
        self._store.set_tag(str(new_ref), image_id, timefmt.now())
        return self._catalog.event("tag", image_id, new_ref.familiar())

    def add_manifest(self, repository: str, digest: str, ref: str) -> str:
        """Record that the manifest `digest` of `repository` resolves to the image `ref`
        names (what pull and push learn); returns the image ID."""
        image_id = self._catalog.resolve_id(ref)
        named = refs.parse_normalized(repository)
        if not named.name_only:
            raise InvalidParameter(f"{repository}: a repository without tag or digest is needed")
        self._store.add_manifest(named.name, dg.validate(digest), image_id)
        return image_id

    def drop(self, ref: refs.Reference) -> None:
        """Remove one reference (a tag, or a repository's manifest digest); removing an
        absent one is not an error, as in moby's reference store."""
        if ref.digest:
            self._store.delete_manifest(ref.name, ref.digest)
        else:
            self._store.delete_tag(str(ref.with_default_tag()))
