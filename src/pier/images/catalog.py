"""The catalog: finding images and describing them (records, list filters, history).

Blocking code, called from worker threads by the service facade, but for `peek` and
`listed`: they only read what a thread kept (no lock, no I/O), so the event loop may
answer from them and a request costs no thread hop when nothing changed. Lookups follow
moby's GetImage: a full ID, a reference (a tag, or a repository and manifest digest),
then a unique ID prefix.
"""

from __future__ import annotations

import builtins
import fnmatch
from collections.abc import Mapping, Sequence

from pier import timefmt
from pier.content.store import ContentStore
from pier.errors import InvalidParameter, NoSuchImage
from pier.images.model import HistoryItem, ImageEvent, ImageRecord
from pier.images.store import ImageStore, ImageView
from pier.oci import digest as dg
from pier.oci import reference as refs
from pier.oci.image import ImageSpec

_LIST_FILTERS = frozenset({"reference", "dangling", "label", "before", "since"})


class Catalog:
    def __init__(self, *, store: ImageStore, content: ContentStore) -> None:
        self._store = store
        self._content = content
        # Configs are immutable, so parsed ones are kept until their image is deleted;
        # so are the records made of them, with the view of the references they show.
        self._specs: dict[str, ImageSpec] = {}
        self._records: dict[str, tuple[ImageView, ImageRecord]] = {}
        self._listed: dict[bool, tuple[int, tuple[ImageRecord, ...]]] = {}

    # -- configs -----------------------------------------------------------------------

    def spec(self, image_id: str) -> ImageSpec:
        spec = self._specs.get(image_id)
        if spec is None:
            spec = ImageSpec.from_bytes(self.config_bytes(image_id))
            self._specs[image_id] = spec
        return spec

    def config_bytes(self, image_id: str) -> bytes:
        with self._content.open(image_id) as f:
            return f.read()

    def forget(self, image_id: str) -> None:
        self._specs.pop(image_id, None)
        self._records.pop(image_id, None)

    def event(self, action: str, image_id: str, name: str) -> ImageEvent:
        """An event for an image that still exists, carrying its labels (LogImageEvent)."""
        return ImageEvent(
            action=action, image_id=image_id, name=name, labels=self.spec(image_id).config.labels
        )

    # -- lookups -----------------------------------------------------------------------

    def resolve_id(self, ref: str) -> str:
        if dg.is_hex_id(ref):
            ref_id = "sha256:" + ref
            if self._store.get(ref_id):
                return ref_id
            raise NoSuchImage(ref_id)
        if dg.is_digest(ref):
            if self._store.get(ref):
                return ref
            raise NoSuchImage(ref)
        named = refs.parse_normalized(ref)
        if named.digest:
            # A tag given with a digest is ignored: the digest decides (moby's refstore).
            target = self._store.manifest_target(named.name, named.digest)
            if target is not None:
                return target
        else:
            target = self._store.tag_target(str(named.with_default_tag()))
            if target is not None:
                return target
        prefix = ref.removeprefix("sha256:")
        if prefix and all(c in "0123456789abcdef" for c in prefix):
            found = self._store.search_prefix(prefix)
            if len(found) == 1:
                return found[0]
        raise NoSuchImage(named.with_default_tag().familiar())

    def peek(self, ref: str) -> ImageRecord | None:
        """The record `ref` names when it is kept: found by full ID, tag or digest
        reference, and made since the image last changed. Otherwise None, and `get`
        (in a worker thread) decides. No lock, no I/O: the event loop may call it."""
        try:
            if dg.is_hex_id(ref):
                view = self._store.peek(image_id="sha256:" + ref)
            elif dg.is_digest(ref):
                view = self._store.peek(image_id=ref)
            else:
                named = refs.parse_normalized(ref)
                if named.digest:
                    view = self._store.peek(manifest=(named.name, named.digest))
                else:
                    view = self._store.peek(tag=str(named.with_default_tag()))
        except InvalidParameter:
            return None  # `get` gives the refusal
        if view is None:
            return None
        cached = self._records.get(view.row.id)
        return cached[1] if cached is not None and cached[0] is view else None

    def references(self, image_id: str) -> builtins.list[str]:
        """The image's normalised references: tags in the order made, then digests."""
        return [t.ref for t in self._store.tags_of(image_id)] + [
            m.ref for m in self._store.manifests_of(image_id)
        ]

    def get(self, ref: str) -> ImageRecord:
        image_id = self.resolve_id(ref)
        view = self._store.view(image_id)
        if view is None:
            raise NoSuchImage(ref)
        return self.record(view)

    def record(self, view: ImageView) -> ImageRecord:
        """The record of a stored image. Kept while the store hands out the same view:
        a view changes with the image's references, and the rest comes from its
        immutable config."""
        cached = self._records.get(view.row.id)
        if cached is not None and cached[0] is view:
            return cached[1]
        row = view.row
        spec = self.spec(row.id)
        created = spec.created or row.created
        rec = ImageRecord(
            id=row.id,
            repo_tags=view.repo_tags,
            repo_digests=view.repo_digests,
            parent=row.parent,
            created=created,
            created_seconds=timefmt.parse_seconds(created),
            size=row.size,
            config=spec.config,
            architecture=spec.architecture,
            os=spec.os,
            variant=spec.variant,
            author=spec.author,
            comment=spec.comment,
            docker_version=spec.docker_version,
            diff_ids=spec.diff_ids,
            chain_id=row.chain_id,
            history=spec.history,
            last_tag_time=max((t.last_tag_time for t in view.tags), default=""),
        )
        self._records[row.id] = (view, rec)
        return rec

    # -- listing -----------------------------------------------------------------------

    def list(self, all: bool, filters: Mapping[str, Sequence[str]]) -> builtins.list[ImageRecord]:
        """Newest first. Without filters the answer is kept until the next write of an
        image or reference (moby's listing reads stores held in memory; so does this)."""
        for key in filters:
            if key not in _LIST_FILTERS:
                raise InvalidParameter(f"invalid filter '{key}'")
        if not filters:
            listed = self.listed(all)
            if listed is not None:
                return listed
        generation, views = self._store.views()
        for gone in self._records.keys() - {v.row.id for v in views}:
            self._records.pop(gone, None)  # put back by a lookup racing a removal
        out = self._select(views, all, filters)
        if not filters:
            self._listed[all] = (generation, tuple(out))
        return out

    def listed(self, all: bool) -> builtins.list[ImageRecord] | None:
        """The unfiltered listing when the one kept is current, else None. Takes no
        lock and does no I/O, so the event loop may call it."""
        cached = self._listed.get(all)
        if cached is not None and cached[0] == self._store.generation:
            return builtins.list(cached[1])
        return None

    def _select(
        self, views: Sequence[ImageView], all: bool, filters: Mapping[str, Sequence[str]]
    ) -> builtins.list[ImageRecord]:
        dangling = _dangling_filter(filters.get("dangling", ()))
        before = [self.get(v).created_seconds for v in filters.get("before", ())]
        since = [self.get(v).created_seconds for v in filters.get("since", ())]
        parents = {v.row.parent for v in views if v.row.parent}
        out: builtins.list[ImageRecord] = []
        for view in views:
            referenced = bool(view.tags or view.manifests)
            if not all and not referenced and view.row.id in parents:
                continue  # an intermediate image, shown with -a only
            if dangling is not None and dangling == referenced:
                continue
            rec = self.record(view)
            created = rec.created_seconds
            if any(created >= b for b in before) or any(created <= s for s in since):
                continue
            if not _labels_match(rec.config.labels, filters.get("label", ())):
                continue
            if "reference" in filters and not _reference_match(
                [t.ref for t in view.tags] + [m.ref for m in view.manifests],
                filters["reference"],
            ):
                continue
            out.append(rec)
        out.sort(key=lambda r: r.created_seconds, reverse=True)
        return out

    def history(self, ref: str) -> builtins.list[HistoryItem]:
        rec = self.get(ref)
        sizes = [layer.size for layer in self._store.image_layers(rec.id)]
        items: builtins.list[HistoryItem] = []
        layer_index = 0
        for entry in rec.history:
            size = 0
            if not entry.empty_layer:
                size = sizes[layer_index] if layer_index < len(sizes) else 0
                layer_index += 1
            items.append(
                HistoryItem(
                    id="<missing>",
                    created=entry.created,
                    created_by=entry.created_by,
                    tags=(),
                    size=size,
                    comment=entry.comment,
                )
            )
        items.reverse()
        # moby's ImageHistory: the rows take the IDs (and tags) of the image and its
        # parents while the parent chain lasts (a classic build's steps), the rest
        # stay "<missing>".
        image_id, tags = rec.id, rec.repo_tags
        for i, item in enumerate(items):
            items[i] = HistoryItem(
                id=image_id,
                created=item.created,
                created_by=item.created_by,
                tags=tags,
                size=item.size,
                comment=item.comment,
            )
            row = self._store.get(image_id)
            parent = self._store.view(row.parent) if row is not None and row.parent else None
            if parent is None:
                break
            image_id, tags = parent.row.id, parent.repo_tags
        return items


def _dangling_filter(values: Sequence[str]) -> bool | None:
    dangling: bool | None = None
    for value in values:
        if value.lower() in ("true", "1"):
            dangling = True
        elif value.lower() in ("false", "0"):
            dangling = False
        else:
            raise InvalidParameter(f"Invalid filter 'dangling={value}'")
    return dangling


def _labels_match(labels: Mapping[str, str], wanted: Sequence[str]) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels:
            return False
        if sep and labels[key] != value:
            return False
    return True


def _reference_match(references: Sequence[str], patterns: Sequence[str]) -> bool:
    # distribution's FamiliarMatch: the pattern may match the familiar name or the whole
    # familiar reference.
    for ref in references:
        parsed = refs.parse(ref)
        for pattern in patterns:
            for candidate in (parsed.familiar_name, parsed.familiar()):
                if fnmatch.fnmatchcase(candidate, pattern):
                    return True
    return False
