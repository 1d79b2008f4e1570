"""The values the image service hands out and takes in, and the collaborators it is given.

Vocabulary: an image is identified by its ID (sha256 of its config bytes); its
*references* are tags (`repo:tag`) and manifest digests (`repo@sha256:...`); a layer is
a *blob* in the content store (as transferred, maybe compressed) whose uncompressed tar
has a DiffID, and is unpacked once into a snapshot named by its ChainID.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from pier.oci.image import HistoryEntry, ImageConfig

ImageUsers = Callable[[str], Sequence[str]]
"""The IDs of the containers using an image (by image ID)."""

# Layer media types an ingest accepts (Docker's and OCI's); the compression itself is
# detected from the blob's first bytes, as containerd's DecompressStream does.
LAYER_MEDIA_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar.zstd",
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
    }
)
MEDIA_TYPE_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPE_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_TYPE_TAR_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


class EventPublisher(Protocol):
    """Where image events go (the daemon's EventBus). Called on the event loop only."""

    def publish(
        self, type: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageEvent:
    """An image event as moby's LogImageEvent makes it: the labels of the image as it was
    when the event happened (none once it is deleted) plus `name`."""

    action: str  # import, tag, untag, delete (later pull, push, save, load)
    image_id: str
    name: str
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def attributes(self) -> dict[str, str]:
        return {**self.labels, "name": self.name}


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerBlob:
    """A layer stored in the content store, as an ingest takes it."""

    digest: str  # of the blob as stored (compressed or not)
    media_type: str
    size: int  # of the blob; verified against the content store


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestRef:
    """A manifest digest that resolves to an image in a repository (a RepoDigest)."""

    repository: str  # as given: `busybox`, `localhost:5000/x`; normalised when recorded
    digest: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRecord:
    id: str
    repo_tags: tuple[str, ...]  # familiar form, e.g. busybox:latest
    repo_digests: tuple[str, ...]  # familiar form, e.g. busybox@sha256:...
    parent: str
    created: str  # RFC3339Nano
    created_seconds: float  # Unix seconds of `created` (0 when missing), parsed once
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Removal:
    """What `rmi` did: Docker's response records, and the events to publish."""

    records: tuple[Mapping[str, str], ...]
    events: tuple[ImageEvent, ...]
