"""ImageService: the images a daemon holds, and the root filesystems made from them.

Public methods are async and run the blocking stores (SQLite, content store,
snapshotter, unpack) in worker threads. Images are recorded by ID (sha256 of their
config bytes); tags map normalised references to IDs; layers are keyed by ChainID and
unpacked once, whoever imports them.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import fnmatch
import hashlib
import platform as host_platform
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pier import timefmt
from pier.content.store import ContentStore
from pier.errors import Conflict, InvalidParameter, NoSuchImage, NotFound
from pier.images.changes import apply_changes
from pier.images.store import ImageRow, ImageStore, LayerRow
from pier.images.unpack import apply_layer, decompressed
from pier.metadata import Database
from pier.oci import digest as dg
from pier.oci import reference as refs
from pier.oci.image import HistoryEntry, ImageConfig, ImageSpec
from pier.snapshots.types import Mount, Snapshotter

ImageUsers = Callable[[str], Sequence[str]]

_LIST_FILTERS = frozenset({"reference", "dangling", "label", "before", "since"})
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRecord:
    id: str
    repo_tags: tuple[str, ...]  # familiar form, e.g. busybox:latest
    repo_digests: tuple[str, ...]
    parent: str
    created: str  # RFC3339Nano
    size: int
    config: ImageConfig
    architecture: str
    os: str
    variant: str
    author: str
    comment: str
    docker_version: str
    diff_ids: tuple[str, ...]
    chain_id: str  # ChainID of the top layer; "" for an image without layers
    history: tuple[HistoryEntry, ...]
    last_tag_time: str  # RFC3339Nano, "" when never tagged
    containers: int = -1

    @property
    def labels(self) -> Mapping[str, str]:
        return self.config.labels


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryItem:
    """One row of `docker history`: newest first."""

    id: str  # the image ID for the top row, "<missing>" otherwise
    created: str
    created_by: str
    tags: tuple[str, ...]
    size: int
    comment: str


def default_platform() -> tuple[str, str, str]:
    machine = host_platform.machine()
    return "linux", _GO_ARCH.get(machine, machine), ""


def parse_platform(spec: str | None) -> tuple[str, str, str]:
    if not spec:
        return default_platform()
    parts = spec.lower().split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidParameter(
            f'"{spec}": unknown operating system or architecture: invalid argument'
        )
    os_ = parts[0]
    if os_ != "linux":
        raise InvalidParameter(f"operating system is not supported: {os_}")
    arch = parts[1] if len(parts) > 1 else default_platform()[1]
    variant = parts[2] if len(parts) > 2 else ""
    return os_, arch, variant


@dataclass(frozen=True, slots=True, kw_only=True)
class _Staged:
    """A layer whose blob is stored; `key` names its unpacked, uncommitted snapshot (empty
    when a layer with the same ChainID already existed)."""

    blob: str
    diff_id: str
    chain_id: str
    parent: str
    key: str = ""
    size: int = 0


class _Tee:
    """Reads from `raw` and copies every byte into the content writer."""

    def __init__(self, raw: IO[bytes], sink: Callable[[bytes], object]) -> None:
        self._raw = raw
        self._sink = sink

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self._sink(data)
        return data


class ImageService:
    def __init__(
        self,
        *,
        data_root: Path,
        db: Database,
        content: ContentStore,
        snapshotter: Snapshotter,
        image_users: ImageUsers,
        running_image_users: ImageUsers | None = None,
    ) -> None:
        self._tmp = data_root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._store = ImageStore(db=db)
        self._content = content
        self._snapshots = snapshotter
        self._users = image_users
        # Running users make a removal conflict that force cannot override (Docker's rule);
        # without this collaborator every user counts as a stopped one.
        self._running_users = running_image_users or (lambda _id: ())
        self._specs: dict[str, ImageSpec] = {}
        # Serialises removal and layer garbage collection against imports.
        self._lock = threading.RLock()

    @property
    def tmp_dir(self) -> Path:
        """Where callers stage uploads (same filesystem as the stores)."""
        return self._tmp

    async def close(self) -> None:
        return None

    # -- reading -----------------------------------------------------------------------

    def _spec(self, image_id: str) -> ImageSpec:
        spec = self._specs.get(image_id)
        if spec is None:
            with self._content.open(image_id) as f:
                spec = ImageSpec.from_bytes(f.read())
            self._specs[image_id] = spec
        return spec

    def config_bytes(self, image_id: str) -> bytes:
        with self._content.open(image_id) as f:
            return f.read()

    def _record(self, row: ImageRow, tags: Sequence[tuple[str, str]] | None = None) -> ImageRecord:
        spec = self._spec(row.id)
        if tags is None:
            tags = [(t.ref, t.last_tag_time) for t in self._store.tags_of(row.id)]
        return ImageRecord(
            id=row.id,
            repo_tags=tuple(refs.familiar(ref) for ref, _ in tags),
            repo_digests=(),
            parent=row.parent,
            created=spec.created or row.created,
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
            last_tag_time=max((when for _, when in tags), default=""),
            containers=len(self._users(row.id)),
        )

    def _resolve_id(self, ref: str) -> str:
        """Docker's GetImage: a full ID (with or without `sha256:`), a reference, then a
        unique ID prefix."""
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
        if not named.digest:
            target = self._store.tag_target(str(named.with_default_tag()))
            if target is not None:
                return target
        prefix = ref.removeprefix("sha256:")
        if prefix and all(c in "0123456789abcdef" for c in prefix):
            found = self._store.search_prefix(prefix)
            if len(found) == 1:
                return found[0]
        raise NoSuchImage(named.with_default_tag().familiar())

    def _resolve(self, ref: str) -> ImageRecord:
        image_id = self._resolve_id(ref)
        row = self._store.get(image_id)
        if row is None:
            raise NoSuchImage(ref)
        return self._record(row)

    async def resolve(self, ref: str) -> ImageRecord:
        return await asyncio.to_thread(self._resolve, ref)

    def _list(self, all: bool, filters: Mapping[str, Sequence[str]]) -> builtins.list[ImageRecord]:
        for key in filters:
            if key not in _LIST_FILTERS:
                raise InvalidParameter(f"invalid filter '{key}'")
        tags_by_image: dict[str, list[tuple[str, str]]] = {}
        for t in self._store.tags():
            tags_by_image.setdefault(t.image_id, []).append((t.ref, t.last_tag_time))
        rows = self._store.images()
        parents = {r.parent for r in rows if r.parent}

        dangling: bool | None = None
        for value in filters.get("dangling", ()):
            if value.lower() in ("true", "1"):
                dangling = True
            elif value.lower() in ("false", "0"):
                dangling = False
            else:
                raise InvalidParameter(f"Invalid filter 'dangling={value}'")
        before = [self._record_of(v) for v in filters.get("before", ())]
        since = [self._record_of(v) for v in filters.get("since", ())]

        out: builtins.list[ImageRecord] = []
        for row in rows:
            tags = tags_by_image.get(row.id, [])
            if not all and not tags and row.id in parents:
                continue  # an intermediate image, shown with -a only
            if dangling is True and tags:
                continue
            if dangling is False and not tags:
                continue
            rec = self._record(row, tags)
            created = timefmt.parse_seconds(rec.created)
            if any(created >= timefmt.parse_seconds(b.created) for b in before):
                continue
            if any(created <= timefmt.parse_seconds(s.created) for s in since):
                continue
            if not _labels_match(rec.config.labels, filters.get("label", ())):
                continue
            if "reference" in filters:
                matched = _reference_match(tags, filters["reference"])
                if not matched:
                    continue
            out.append(rec)
        out.sort(key=lambda r: timefmt.parse_seconds(r.created), reverse=True)
        return out

    def _record_of(self, ref: str) -> ImageRecord:
        return self._resolve(ref)

    async def list(
        self, *, all: bool = False, filters: Mapping[str, Sequence[str]] | None = None
    ) -> builtins.list[ImageRecord]:
        return await asyncio.to_thread(self._list, all, filters or {})

    def _history(self, ref: str) -> builtins.list[HistoryItem]:
        rec = self._resolve(ref)
        layers = self._store.image_layers(rec.id)
        sizes = [layer.size for layer in layers]
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
        if items:
            top = items[0]
            items[0] = HistoryItem(
                id=rec.id,
                created=top.created,
                created_by=top.created_by,
                tags=rec.repo_tags,
                size=top.size,
                comment=top.comment,
            )
        return items

    async def history(self, ref: str) -> builtins.list[HistoryItem]:
        return await asyncio.to_thread(self._history, ref)

    # -- import ------------------------------------------------------------------------

    def _ingest_layer(self, path: Path, parent_chain: str) -> _Staged:
        """Store the layer blob, learn its DiffID, and unpack it unless a layer with the
        same ChainID exists already."""
        ref = f"import-{uuid.uuid4().hex}"
        with path.open("rb") as raw, self._content.writer(ref) as writer:
            # One pass stores the blob as given and hashes its decompressed form.
            inner = decompressed(_Tee(raw, writer.write))  # type: ignore[arg-type]
            hasher = hashlib.sha256()
            while block := inner.read(1 << 20):
                hasher.update(block)
            # Whatever the decompressor did not consume still belongs to the blob.
            while rest := raw.read(1 << 20):
                writer.write(rest)
            blob = writer.commit().digest
        diff_id = "sha256:" + hasher.hexdigest()
        chain_id = diff_id if not parent_chain else dg.chain_ids([parent_chain, diff_id])[1]
        if self._store.layer(chain_id) is not None:
            return _Staged(blob=blob, diff_id=diff_id, chain_id=chain_id, parent=parent_chain)
        # Unpacked without holding the service lock, so imports run in parallel; the
        # extraction snapshot is private until committed under its ChainID.
        key = f"extract-{uuid.uuid4().hex}"
        self._snapshots.prepare(key, parent_chain or None)
        try:
            with self._content.open(blob) as f:
                result = apply_layer(f, Path(self._snapshots.fs_path(key)))
            if result.diff_id != diff_id:
                raise InvalidParameter(f"layer diff id mismatch: {result.diff_id} != {diff_id}")
        except BaseException:
            self._discard_staged(key, blob)
            raise
        return _Staged(
            blob=blob,
            diff_id=diff_id,
            chain_id=chain_id,
            parent=parent_chain,
            key=key,
            size=result.size,
        )

    def _discard_staged(self, key: str, blob: str) -> None:
        with contextlib.suppress(NotFound):
            self._snapshots.remove(key)
        if not self._store.blob_in_use(blob):
            with contextlib.suppress(NotFound):
                self._content.delete(blob)

    def _finish_layer(self, staged: _Staged) -> LayerRow:
        """Record a staged layer; the caller holds the lock until the image using it is
        recorded, so garbage collection cannot take the layer in between."""
        existing = self._store.layer(staged.chain_id)
        if existing is not None:
            if staged.key:
                # Another import of the same layer won the race: use its snapshot.
                self._snapshots.remove(staged.key)
            return existing
        if not staged.key:
            raise Conflict("layer was removed while being imported: try again")
        self._snapshots.commit(staged.chain_id, staged.key)
        layer = LayerRow(
            chain_id=staged.chain_id,
            diff_id=staged.diff_id,
            parent_chain=staged.parent,
            snapshot=staged.chain_id,
            size=staged.size,
            blob=staged.blob,
        )
        self._store.add_layer(layer)
        return layer

    def _import(
        self,
        path: Path,
        repo: str | None,
        tag: str | None,
        changes: Sequence[str],
        message: str,
        platform: str | None,
    ) -> ImageRecord:
        new_ref: refs.Reference | None = None
        if repo:
            new_ref = refs.parse_normalized(repo)
            new_ref = new_ref.with_tag(tag) if tag else new_ref.with_default_tag()
            if new_ref.digest:
                raise InvalidParameter("refusing to create a tag with a digest reference")
        os_, arch, variant = parse_platform(platform)
        config = apply_changes(ImageConfig(), changes)
        staged = self._ingest_layer(path, "")
        created = timefmt.now()
        comment = message or "Imported from -"
        spec = ImageSpec(
            architecture=arch,
            os=os_,
            variant=variant,
            created=created,
            comment=comment,
            config=config,
            diff_ids=(staged.diff_id,),
            history=(HistoryEntry(created=created, comment=comment),),
        )
        with self._lock:
            try:
                layer = self._finish_layer(staged)
            except BaseException:
                if staged.key:
                    self._discard_staged(staged.key, staged.blob)
                raise
            return self._register(spec.to_bytes(), [layer], new_ref)

    def _register(
        self, config: bytes, layers: Sequence[LayerRow], new_ref: refs.Reference | None
    ) -> ImageRecord:
        image_id = dg.from_bytes(config)
        spec = ImageSpec.from_bytes(config)
        with self._lock:
            try:
                info = self._content.info(image_id)
                del info
            except NotFound:
                with self._content.writer(f"config-{image_id}") as w:
                    w.write(config)
                    w.commit(len(config), image_id)
            row = ImageRow(
                id=image_id,
                created=spec.created,
                size=sum(layer.size for layer in layers),
                parent="",
                chain_id=layers[-1].chain_id if layers else "",
                added=time.time(),
            )
            self._store.add_image(row, [layer.chain_id for layer in layers])
            if new_ref is not None:
                self._store.set_tag(str(new_ref), image_id, timefmt.now())
        return self._resolve(image_id)

    async def import_archive(
        self,
        path: Path,
        *,
        repo: str | None,
        tag: str | None,
        changes: Sequence[str] = (),
        message: str = "",
        platform: str | None = None,
    ) -> ImageRecord:
        return await asyncio.to_thread(self._import, path, repo, tag, changes, message, platform)

    # -- tags and removal --------------------------------------------------------------

    def _tag(self, ref: str, repo: str, tag: str | None) -> None:
        image_id = self._resolve_id(ref)
        if not repo:
            raise InvalidParameter("repository name must have at least one component")
        new_ref = refs.parse_normalized(repo)
        if tag:
            new_ref = new_ref.with_tag(tag)
        if new_ref.digest:
            raise InvalidParameter("refusing to create a tag with a digest reference")
        self._store.set_tag(str(new_ref.with_default_tag()), image_id, timefmt.now())

    async def tag(self, ref: str, repo: str, tag: str | None) -> None:
        await asyncio.to_thread(self._tag, ref, repo, tag)

    def _remove(self, ref: str, force: bool, noprune: bool) -> builtins.list[dict[str, str]]:
        with self._lock:
            image_id = self._resolve_id(ref)
            records: builtins.list[dict[str, str]] = []
            tags = [t.ref for t in self._store.tags_of(image_id)]
            removed_ref = False
            if not _is_id_prefix(image_id, ref):
                named = refs.parse_normalized(ref).with_default_tag()
                if not force and len(tags) == 1:
                    users = self._users(image_id)
                    if users:
                        raise Conflict(
                            f'conflict: unable to remove repository reference "{ref}" '
                            f"(must force) - container {dg.short_id(users[0])} is using its "
                            f"referenced image {dg.short_id(image_id)}"
                        )
                self._store.delete_tag(str(named))
                records.append({"Untagged": named.familiar()})
                if self._store.tags_of(image_id):
                    return records
                removed_ref = True
            elif len(tags) == 1:
                conflict = self._conflict(image_id, hard=True, soft=not force, tags=False)
                if conflict is not None:
                    raise conflict
                self._store.delete_tag(tags[0])
                records.append({"Untagged": refs.familiar(tags[0])})
            self._delete_helper(image_id, records, force=force, quiet=removed_ref)
            return records

    def _conflict(self, image_id: str, *, hard: bool, soft: bool, tags: bool) -> Conflict | None:
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
        if soft and tags and self._store.tags_of(image_id):
            return fail("image is referenced in multiple repositories", True)
        if soft:
            running_set = set(self._running_users(image_id))
            stopped = [c for c in self._users(image_id) if c not in running_set]
            if stopped:
                return fail(
                    f"image is being used by stopped container {dg.short_id(stopped[0])}", True
                )
        return None

    def _delete_helper(
        self, image_id: str, records: builtins.list[dict[str, str]], *, force: bool, quiet: bool
    ) -> None:
        conflict = self._conflict(image_id, hard=True, soft=not force, tags=True)
        if conflict is not None:
            dangling = not self._store.tags_of(image_id) and not self._store.children(image_id)
            if quiet and (not dangling or self._users(image_id)):
                return
            raise conflict
        for t in self._store.tags_of(image_id):
            records.append({"Untagged": refs.familiar(t.ref)})
        self._store.delete_image(image_id)
        self._specs.pop(image_id, None)
        with contextlib.suppress(NotFound):
            self._content.delete(image_id)
        records.append({"Deleted": image_id})
        for chain_id in self._gc_layers():
            records.append({"Deleted": chain_id})

    def _gc_layers(self) -> builtins.list[str]:
        """Remove layers no image uses and no container stands on; their ChainIDs."""
        removed: builtins.list[str] = []
        for layer in self._store.unused_layers():
            try:
                self._snapshots.remove(layer.snapshot)
            except Conflict:
                continue  # a container's rootfs (or another layer) still stands on it
            except NotFound:
                pass
            self._store.delete_layer(layer.chain_id)
            if layer.blob:
                with contextlib.suppress(NotFound):
                    self._content.delete(layer.blob)
            removed.append(layer.chain_id)
        return removed

    async def remove(
        self, ref: str, *, force: bool = False, noprune: bool = False
    ) -> builtins.list[dict[str, str]]:
        return await asyncio.to_thread(self._remove, ref, force, noprune)

    # -- container root filesystems ----------------------------------------------------

    def _prepare_rootfs(self, image_id: str, key: str) -> builtins.list[Mount]:
        with self._lock:
            row = self._store.get(self._resolve_id(image_id))
            if row is None:
                raise NoSuchImage(image_id)
            return self._snapshots.prepare(key, row.chain_id or None)

    async def prepare_rootfs(self, image_id: str, key: str) -> builtins.list[Mount]:
        return await asyncio.to_thread(self._prepare_rootfs, image_id, key)

    def _remove_rootfs(self, key: str) -> None:
        with self._lock:
            with contextlib.suppress(NotFound):
                self._snapshots.remove(key)
            self._gc_layers()

    async def remove_rootfs(self, key: str) -> None:
        await asyncio.to_thread(self._remove_rootfs, key)

    async def rootfs_mounts(self, key: str) -> builtins.list[Mount]:
        return await asyncio.to_thread(self._snapshots.mounts, key)

    async def rootfs_usage(self, key: str) -> int:
        usage = await asyncio.to_thread(self._snapshots.usage, key)
        return usage.size


def _is_id_prefix(image_id: str, ref: str) -> bool:
    return image_id.startswith(ref) or image_id.split(":", 1)[1].startswith(ref)


def _labels_match(labels: Mapping[str, str], wanted: Sequence[str]) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels:
            return False
        if sep and labels[key] != value:
            return False
    return True


def _reference_match(tags: Sequence[tuple[str, str]], patterns: Sequence[str]) -> bool:
    for ref, _ in tags:
        parsed = refs.parse(ref)
        for pattern in patterns:
            for candidate in (parsed.familiar_name, parsed.familiar()):
                if fnmatch.fnmatchcase(candidate, pattern):
                    return True
    return False
