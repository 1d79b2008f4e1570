"""`docker rmi`: moby's ImageDelete rules, conflicts in its wording, then layer GC.

Hard conflicts (a child image, a running container) can never be overridden; soft ones
(other references, a stopped container) yield to `force`. Removing a reference by name
only untags while other references remain. Events are collected as moby logs them:
`untag` for each reference removed on the image's behalf, then `delete`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence

from pier.content.store import ContentStore
from pier.errors import Conflict, NotFound
from pier.images.catalog import Catalog
from pier.images.gc import LayerCollector
from pier.images.model import ImageEvent, ImageUsers, Removal
from pier.images.store import ImageStore
from pier.images.tags import References
from pier.oci import digest as dg
from pier.oci import reference as refs


class Remover:
    def __init__(
        self,
        *,
        store: ImageStore,
        content: ContentStore,
        catalog: Catalog,
        references: References,
        collector: LayerCollector,
        image_users: ImageUsers,
        running_image_users: ImageUsers,
        lock: threading.RLock,
    ) -> None:
        self._store = store
        self._content = content
        self._catalog = catalog
        self._refs = references
        self._collector = collector
        self._users = image_users
        self._running_users = running_image_users
        self._lock = lock

    def remove(self, ref: str, *, force: bool, prune: bool = True) -> Removal:
        """`prune`: untagged parents nothing else uses go too (moby's default; the
        classic builder leaves one per step)."""
        with self._lock:
            run = _Run()
            self._remove(ref, force, run, prune)
            return Removal(records=tuple(run.records), events=tuple(run.events))

    def _remove(self, ref: str, force: bool, run: _Run, prune: bool) -> None:
        image_id = self._catalog.resolve_id(ref)
        repo_refs = self._catalog.references(image_id)
        removed_ref = False
        if not _is_id_prefix(image_id, ref):
            if not force and _is_single_reference(repo_refs):
                users = self._users(image_id)
                if users:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{ref}" '
                        f"(must force) - container {dg.short_id(users[0])} is using its "
                        f"referenced image {dg.short_id(image_id)}"
                    )
            named = _tag_name_only(refs.parse_normalized(ref))
            run.events.append(self._catalog.event("untag", image_id, image_id))
            self._refs.drop(named)
            run.records.append({"Untagged": named.familiar()})
            repo_refs = self._catalog.references(image_id)
            if not named.digest:
                repo_refs = self._drop_orphan_digests(named, repo_refs, run)
            if repo_refs:
                return
            removed_ref = True
        elif _is_single_reference(repo_refs):
            conflict = self._conflict(image_id, hard=True, soft=not force, references=False)
            if conflict is not None:
                raise conflict
            self._drop_all(image_id, run)
        self._delete(image_id, run, force=force, quiet=removed_ref, prune=prune)

    def _drop_orphan_digests(
        self, removed: refs.Reference, repo_refs: Sequence[str], run: _Run
    ) -> list[str]:
        """Once the last tag of a repository is gone, its digest references go too (moby
        records them as untagged but logs no event for them)."""
        parsed = [refs.parse(r) for r in repo_refs]
        if any(not p.digest and p.name == removed.name for p in parsed):
            return list(repo_refs)
        remaining: list[str] = []
        for p in parsed:
            if p.digest and p.name == removed.name:
                self._refs.drop(p)
                run.records.append({"Untagged": p.familiar()})
            else:
                remaining.append(str(p))
        return remaining

    def _drop_all(self, image_id: str, run: _Run) -> None:
        for ref in self._catalog.references(image_id):
            parsed = refs.parse(ref)
            run.events.append(self._catalog.event("untag", image_id, image_id))
            self._refs.drop(parsed)
            run.records.append({"Untagged": parsed.familiar()})

    def _conflict(
        self, image_id: str, *, hard: bool, soft: bool, references: bool
    ) -> Conflict | None:
        def fail(message: str, forceable: bool) -> Conflict:
            how = "must be forced" if forceable else "cannot be forced"
            return Conflict(
                f"conflict: unable to delete {dg.short_id(image_id)} ({how}) - {message}"
            )

        if hard and self._store.children(image_id):
            return fail("image has dependent child images", False)
        if hard:
            running = self._running_users(image_id)
            if running:
                return fail(
                    f"image is being used by running container {dg.short_id(running[0])}", False
                )
        if soft and references and self._catalog.references(image_id):
            return fail("image is referenced in multiple repositories", True)
        if soft:
            running_set = set(self._running_users(image_id))
            stopped = [c for c in self._users(image_id) if c not in running_set]
            if stopped:
                return fail(
                    f"image is being used by stopped container {dg.short_id(stopped[0])}", True
                )
        return None

    def _delete(
        self, image_id: str, run: _Run, *, force: bool, quiet: bool, prune: bool = False
    ) -> None:
        conflict = self._conflict(image_id, hard=True, soft=not force, references=True)
        if conflict is not None:
            dangling = not self._catalog.references(image_id) and not self._store.children(image_id)
            if quiet and (not dangling or self._users(image_id)):
                return
            raise conflict
        row = self._store.get(image_id)
        parent = row.parent if row is not None else ""
        self._drop_all(image_id, run)
        self._store.delete_image(image_id)
        self._catalog.forget(image_id)
        with contextlib.suppress(NotFound):
            self._content.delete(image_id)
        # Logged once the image is gone, so without its labels (as moby's).
        run.events.append(ImageEvent(action="delete", image_id=image_id, name=image_id))
        run.records.append({"Deleted": image_id})
        for chain_id in self._collector.collect():
            run.records.append({"Deleted": chain_id})
        if prune and parent and self._store.get(parent) is not None:
            # moby prunes quietly and without force: a parent with a tag, another
            # child or a container stays.
            self._delete(parent, run, force=False, quiet=True, prune=True)


class _Run:
    """What one removal did so far."""

    def __init__(self) -> None:
        self.records: list[Mapping[str, str]] = []
        self.events: list[ImageEvent] = []


def _tag_name_only(ref: refs.Reference) -> refs.Reference:
    # A reference with both a tag and a digest is stored by its digest alone.
    if ref.digest:
        return refs.Reference(domain=ref.domain, path=ref.path, digest=ref.digest)
    return ref.with_default_tag()


def _is_id_prefix(image_id: str, ref: str) -> bool:
    return image_id.startswith(ref) or image_id.split(":", 1)[1].startswith(ref)


def _is_single_reference(repo_refs: Sequence[str]) -> bool:
    """moby's isSingleReference: at most one tag, and every digest reference in the
    tag's repository; false when there are none."""
    if len(repo_refs) <= 1:
        return len(repo_refs) == 1
    parsed = [refs.parse(r) for r in repo_refs]
    tags = [p for p in parsed if not p.digest]
    if len(tags) > 1:
        return False
    single = tags[0] if tags else parsed[0]
    canonical = {p.name for p in parsed if p.digest}
    return canonical == {single.name}
