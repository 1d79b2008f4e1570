"""ImageArchives: `GET /images/get` and `POST /images/load` over the image service.

Save resolves names as moby's tarexporter (a tag saves that tag; a repository name
every tag of it; an ID or digest the image untagged), writes the archive to a temp
file in a worker thread (see `pier.images.saveload`) and hands its path to the caller,
who streams and removes it. Load reads an uploaded archive, stores its blobs and ingests
each image; it answers with Docker's `Loaded image: x` / `Loaded image ID: sha256:...`.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from pier.content.store import ContentStore
from pier.errors import NotFound
from pier.images.archive import default_platform
from pier.images.budget import Budget
from pier.images.model import ImageRecord, LayerBlob
from pier.images.saveload import SaveItem, read_archive, write_archive
from pier.oci import digest as dg
from pier.oci import reference as refs


class ArchiveBackend(Protocol):
    @property
    def content(self) -> ContentStore: ...

    @property
    def tmp_dir(self) -> Path: ...

    def config_bytes(self, image_id: str) -> bytes: ...

    async def resolve(self, ref: str) -> ImageRecord: ...

    async def list(
        self, *, all: bool = False, filters: Mapping[str, Sequence[str]] | None = None
    ) -> builtins.list[ImageRecord]: ...

    async def layer_blobs(self, image_id: str) -> builtins.list[LayerBlob]: ...

    async def ingest(
        self,
        *,
        layers: Sequence[LayerBlob],
        config: bytes,
        tags: Sequence[refs.Reference] = (),
        budget: Budget | None = None,
    ) -> ImageRecord: ...

    def upload_budget(self) -> Budget | None: ...

    async def log_event(self, action: str, image_id: str, name: str) -> None: ...

    async def discard_blobs(self, digests: Sequence[str]) -> None: ...


class ImageArchives:
    def __init__(self, *, images: ArchiveBackend) -> None:
        self._images = images

    async def _selection(self, names: Sequence[str]) -> dict[str, list[refs.Reference]]:
        chosen: dict[str, list[refs.Reference]] = {}

        def add(image_id: str, ref: refs.Reference | None) -> None:
            tags = chosen.setdefault(image_id, [])
            if ref is not None and ref.tag and not ref.digest and ref not in tags:
                tags.append(ref)

        records: list[ImageRecord] | None = None
        for name in names:
            bare = name.removeprefix("sha256:")
            if dg.is_digest(name) or (bare and all(c in "0123456789abcdef" for c in bare)):
                try:
                    add((await self._images.resolve(name)).id, None)
                    continue
                except NotFound:
                    if dg.is_digest(name):
                        raise
            ref = refs.parse_normalized(name)
            if ref.name_only:
                records = records if records is not None else await self._images.list()
                found = False
                for rec in records:
                    for tag in rec.repo_tags:
                        tagged = refs.parse_normalized(tag)
                        if tagged.name == ref.name:
                            add(rec.id, tagged)
                            found = True
                if not found:
                    add((await self._images.resolve(name)).id, None)
                continue
            rec = await self._images.resolve(name)
            add(rec.id, None if ref.digest else ref.with_default_tag())
        return chosen

    async def save(self, names: Sequence[str]) -> Path:
        """Write the archive of `names` to a temp file; the caller removes it."""
        chosen = await self._selection(names)
        items = []
        for image_id, tags in chosen.items():
            config = await asyncio.to_thread(self._images.config_bytes, image_id)
            blobs = await self._images.layer_blobs(image_id)
            items.append(
                SaveItem(image_id=image_id, config=config, layers=tuple(blobs), tags=tuple(tags))
            )
        fd, name = tempfile.mkstemp(prefix="save-", suffix=".tar", dir=self._images.tmp_dir)
        path = Path(name)

        def work() -> None:
            with os.fdopen(fd, "wb") as out:
                write_archive(out, items, self._images.content)

        try:
            await asyncio.to_thread(work)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            raise
        for image_id, tags in chosen.items():
            await self._images.log_event("save", image_id, tags[0].familiar() if tags else image_id)
        return path

    async def load(self, path: Path) -> list[str]:
        """Load the archive at `path`; Docker's `Loaded image...` lines."""
        os_, arch, _ = default_platform()
        stored: list[str] = []
        lines = []
        # The stored blobs are unreferenced until ingested: held by the image service's
        # lease (where it has one) against its garbage collector.
        make = getattr(self._images, "lease", None)
        held = make("load") if make is not None else contextlib.nullcontext()
        try:
            held.__enter__()
            items = await asyncio.to_thread(
                read_archive, str(path), self._images.content, (os_, arch), stored
            )
            # The daemon's bound is the archive's, not each of its images'.
            budget = self._images.upload_budget()
            for item in items:
                rec = await self._images.ingest(
                    layers=item.layers, config=item.config, tags=item.tags, budget=budget
                )
                if not item.tags:
                    lines.append(f"Loaded image ID: {rec.id}")
                    await self._images.log_event("load", rec.id, rec.id)
                for tag in item.tags:
                    lines.append(f"Loaded image: {tag.familiar()}")
                    await self._images.log_event("load", rec.id, tag.familiar())
        finally:
            held.__exit__(None, None, None)
            # Blobs no recorded layer uses (a failure half-way, duplicates): dropped.
            await self._images.discard_blobs(stored)
        return lines
