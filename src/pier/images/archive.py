"""Archives in and out of the image store: `docker import` now (save/load and export
will live here too).

Import stores the uploaded tar as a layer blob (as given, compressed or not) while
hashing its uncompressed form in the same pass, so the config can name the DiffID;
then the ingest unpacks, verifies and records it like any other image.
"""

from __future__ import annotations

import hashlib
import platform as host_platform
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pier import timefmt
from pier.content.store import ContentStore
from pier.errors import InvalidParameter
from pier.images.changes import apply_changes
from pier.images.compressed import bad_compression_is_a_400, decompressed
from pier.images.ingest import Ingester
from pier.images.model import (
    MEDIA_TYPE_TAR,
    MEDIA_TYPE_TAR_GZIP,
    MEDIA_TYPE_TAR_ZSTD,
    LayerBlob,
)
from pier.oci import reference as refs
from pier.oci.image import HistoryEntry, ImageConfig, ImageSpec

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}
_CHUNK = 1 << 20


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
class Imported:
    image_id: str
    tag: refs.Reference | None


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


def store_layer(content: ContentStore, path: Path) -> tuple[LayerBlob, str]:
    """Store the file at `path` as a layer blob; the blob and its DiffID."""
    with path.open("rb") as raw:
        head = raw.read(4)
        raw.seek(0)
        with content.writer(f"import-{uuid.uuid4().hex}") as writer:
            # One pass stores the blob as given and hashes its decompressed form.
            inner = decompressed(_Tee(raw, writer.write))  # type: ignore[arg-type]
            hasher = hashlib.sha256()
            with bad_compression_is_a_400():
                while block := inner.read(_CHUNK):
                    hasher.update(block)
            # Whatever the decompressor did not consume still belongs to the blob.
            while rest := raw.read(_CHUNK):
                writer.write(rest)
            info = writer.commit()
    if head[:2] == b"\x1f\x8b":
        media_type = MEDIA_TYPE_TAR_GZIP
    elif head == b"\x28\xb5\x2f\xfd":
        media_type = MEDIA_TYPE_TAR_ZSTD
    else:
        media_type = MEDIA_TYPE_TAR
    blob = LayerBlob(digest=info.digest, media_type=media_type, size=info.size)
    return blob, "sha256:" + hasher.hexdigest()


def import_tar(
    *,
    content: ContentStore,
    ingester: Ingester,
    path: Path,
    repo: str | None,
    tag: str | None,
    changes: Sequence[str],
    message: str,
    platform: str | None,
) -> Imported:
    """moby's ImportImage: one layer, a config made from `changes`, tagged when asked."""
    new_ref: refs.Reference | None = None
    if repo:
        new_ref = refs.parse_normalized(repo)
        new_ref = new_ref.with_tag(tag) if tag else new_ref.with_default_tag()
        if new_ref.digest:
            raise InvalidParameter("refusing to create a tag with a digest reference")
    os_, arch, variant = parse_platform(platform)
    config = apply_changes(ImageConfig(), changes)
    blob, diff_id = store_layer(content, path)
    created = timefmt.now()
    comment = message or "Imported from -"
    spec = ImageSpec(
        architecture=arch,
        os=os_,
        variant=variant,
        created=created,
        comment=comment,
        config=config,
        diff_ids=(diff_id,),
        history=(HistoryEntry(created=created, comment=comment),),
    )
    # The ingest drops the blob again if anything fails from here on.
    image_id = ingester.ingest(
        layers=[blob], config=spec.to_bytes(), tags=[new_ref] if new_ref else []
    )
    return Imported(image_id=image_id, tag=new_ref)
