"""`docker save` / `docker load` archives.

Save writes what Docker 25+ writes, both in one tar: Docker's format (`manifest.json`
with Config/RepoTags/Layers, `repositories`) and an OCI image layout (`oci-layout`,
`index.json` naming each image with `io.containerd.image.name` and
`org.opencontainers.image.ref.name`, `blobs/sha256/...` holding configs, manifests and
layers). Layers are written as stored (Docker writes them decompressed; a compressed one
loads the same, in Docker too, and saving skips a decompression), so the archive's
manifests name the same blobs the registry had.

Load takes Docker's format, the OCI layout of Docker 25+, skopeo (`oci-archive:`) or
Podman (`--format oci-archive`), plain or gzip-compressed. Members are read only by the
names the archive's own manifests give, after checking each names a blob or stays in
the archive (`..` and absolute names are refused), so nothing outside the store is
written. Every blob's digest is verified by the content store and each image goes
through the one ingest path.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from pier.content.store import ContentStore
from pier.errors import InvalidParameter
from pier.images.blobs import sniff_media_type
from pier.images.model import LayerBlob
from pier.oci import digest as dg
from pier.oci import reference as refs

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
_CHUNK = 1 << 20
MAX_JSON = 8 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveItem:
    image_id: str
    config: bytes
    layers: tuple[LayerBlob, ...]
    tags: tuple[refs.Reference, ...]  # normalised, tagged


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadItem:
    config: bytes
    layers: tuple[LayerBlob, ...]
    tags: tuple[refs.Reference, ...]


def _oci_layer_type(media_type: str) -> str:
    if media_type.endswith(("gzip", "+gzip")):
        return "application/vnd.oci.image.layer.v1.tar+gzip"
    if media_type.endswith("zstd"):
        return "application/vnd.oci.image.layer.v1.tar+zstd"
    return "application/vnd.oci.image.layer.v1.tar"


class _Writer:
    def __init__(self, out: IO[bytes]) -> None:
        self._tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115 - closed by close()
        self._names: set[str] = set()

    def add_bytes(self, name: str, data: bytes) -> None:
        if name in self._names:
            return
        self._names.add(name)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        self._tf.addfile(info, io.BytesIO(data))

    def add_dir(self, name: str) -> None:
        if name in self._names:
            return
        self._names.add(name)
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        self._tf.addfile(info)

    def add_blob(self, content: ContentStore, digest: str, size: int) -> None:
        name = "blobs/sha256/" + dg.hex_of(digest)
        if name in self._names:
            return
        self._names.add(name)
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o644
        with content.open(digest) as f:
            self._tf.addfile(info, f)

    def close(self) -> None:
        self._tf.close()


def write_archive(out: IO[bytes], items: Sequence[SaveItem], content: ContentStore) -> None:
    w = _Writer(out)
    for d in ("blobs", "blobs/sha256"):
        w.add_dir(d)
    docker_manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    index: list[dict[str, Any]] = []
    for item in items:
        config_name = "blobs/sha256/" + dg.hex_of(item.image_id)
        w.add_bytes(config_name, item.config)
        layer_names = []
        for blob in item.layers:
            w.add_blob(content, blob.digest, blob.size)
            layer_names.append("blobs/sha256/" + dg.hex_of(blob.digest))
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": item.image_id,
                    "size": len(item.config),
                },
                "layers": [
                    {"mediaType": _oci_layer_type(b.media_type), "digest": b.digest, "size": b.size}
                    for b in item.layers
                ],
            },
            separators=(",", ":"),
        ).encode()
        manifest_digest = dg.from_bytes(manifest)
        w.add_bytes("blobs/sha256/" + dg.hex_of(manifest_digest), manifest)
        descriptor = {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest)}
        if item.tags:
            for tag in item.tags:
                index.append(
                    {
                        **descriptor,
                        "annotations": {NAME_ANNOTATION: str(tag), REF_ANNOTATION: tag.tag},
                    }
                )
                repositories.setdefault(tag.familiar_name, {})[tag.tag] = dg.hex_of(item.image_id)
        else:
            index.append(descriptor)
        docker_manifest.append(
            {
                "Config": config_name,
                "RepoTags": [t.familiar() for t in item.tags] or None,
                "Layers": layer_names,
            }
        )
    w.add_bytes("index.json", json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                          "manifests": index}).encode())  # fmt: skip
    w.add_bytes("manifest.json", json.dumps(docker_manifest).encode())
    w.add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    if repositories:
        w.add_bytes("repositories", json.dumps(repositories).encode())
    w.close()


# -- load ------------------------------------------------------------------------------


class _Archive:
    """Random access to the members of an archive file, by checked names."""

    def __init__(self, tf: tarfile.TarFile) -> None:
        self._tf = tf
        self._members: dict[str, tarfile.TarInfo] = {}
        for m in tf.getmembers():
            if m.isfile():
                self._members[posixpath.normpath(m.name.lstrip("./")) if m.name != "." else "."] = m

    def has(self, name: str) -> bool:
        return _clean(name) in self._members

    def open(self, name: str) -> IO[bytes]:
        member = self._members.get(_clean(name))
        if member is None:
            raise InvalidParameter(f"invalid archive: {name!r} is missing")
        f = self._tf.extractfile(member)
        assert f is not None
        return f

    def read_json(self, name: str) -> Any:
        with self.open(name) as f:
            data = f.read(MAX_JSON + 1)
        if len(data) > MAX_JSON:
            raise InvalidParameter(f"invalid archive: {name} is too large")
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidParameter(f"invalid archive: {name}: {exc}") from exc

    def blob(self, digest: str) -> str:
        return "blobs/sha256/" + dg.hex_of(digest)


def _clean(name: str) -> str:
    if name.startswith("/") or ".." in name.split("/"):
        raise InvalidParameter(f"invalid archive: {name!r} is outside of the archive")
    return posixpath.normpath(name.lstrip("./") or ".")


def read_archive(
    path: str, content: ContentStore, want_platform: tuple[str, str], stored: list[str]
) -> list[LoadItem]:
    """The images in the archive at `path`, their layer blobs stored in `content`; each
    blob stored is appended to `stored` as it is (the caller drops those no image keeps,
    also when this fails half-way)."""
    try:
        tf = tarfile.open(path, mode="r:*")  # noqa: SIM115 - the with below
    except (tarfile.TarError, OSError) as exc:
        raise InvalidParameter(f"invalid archive: {exc}") from exc
    with tf:
        archive = _Archive(tf)
        if archive.has("manifest.json"):
            return _docker_format(archive, content, stored)
        if archive.has("index.json"):
            return _oci_layout(archive, content, want_platform, stored)
        raise InvalidParameter("invalid archive: neither manifest.json nor index.json found")


def _store(
    archive: _Archive, content: ContentStore, name: str, expected: str | None, stored: list[str]
) -> LayerBlob:
    with archive.open(name) as f:
        head = f.read(4)
        with content.writer(f"load-{uuid.uuid4().hex}") as writer:
            writer.write(head)
            while block := f.read(_CHUNK):
                writer.write(block)
            try:
                info = writer.commit(expected=expected)
            except InvalidParameter as exc:
                raise InvalidParameter(f"invalid archive: {name}: {exc}") from exc
    stored.append(info.digest)
    return LayerBlob(digest=info.digest, media_type=sniff_media_type(head), size=info.size)


def _docker_format(archive: _Archive, content: ContentStore, stored: list[str]) -> list[LoadItem]:
    entries = archive.read_json("manifest.json")
    if not isinstance(entries, list):
        raise InvalidParameter("invalid archive: manifest.json is not a list")
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or "Config" not in entry:
            raise InvalidParameter("invalid archive: bad manifest.json entry")
        with archive.open(str(entry["Config"])) as f:
            config = f.read(MAX_JSON)
        layers = tuple(
            _store(archive, content, str(n), None, stored) for n in entry.get("Layers") or ()
        )
        tags = tuple(refs.parse_docker_ref(str(t)) for t in entry.get("RepoTags") or ())
        out.append(LoadItem(config=config, layers=layers, tags=tuple(t for t in tags if t.tag)))
    return out


def _oci_layout(
    archive: _Archive, content: ContentStore, want_platform: tuple[str, str], stored: list[str]
) -> list[LoadItem]:
    index = archive.read_json("index.json")
    if not isinstance(index, dict):
        raise InvalidParameter("invalid archive: index.json is not an object")
    by_manifest: dict[str, list[refs.Reference]] = {}
    order: list[str] = []
    for desc in index.get("manifests") or ():
        digest = _manifest_for(archive, desc, want_platform)
        if digest is None:
            continue
        if digest not in by_manifest:
            by_manifest[digest] = []
            order.append(digest)
        tag = _name_of(desc.get("annotations") or {})
        if tag is not None:
            by_manifest[digest].append(tag)
    out = []
    for digest in order:
        manifest = archive.read_json(archive.blob(digest))
        config_desc = manifest.get("config") or {}
        with archive.open(archive.blob(str(config_desc.get("digest", "")))) as f:
            config = f.read(MAX_JSON)
        if dg.from_bytes(config) != config_desc.get("digest"):
            raise InvalidParameter("invalid archive: config does not match its digest")
        layers = tuple(
            _store(
                archive, content, archive.blob(str(layer["digest"])), str(layer["digest"]), stored
            )
            for layer in manifest.get("layers") or ()
        )
        out.append(LoadItem(config=config, layers=layers, tags=tuple(by_manifest[digest])))
    return out


def _manifest_for(archive: _Archive, desc: Any, want: tuple[str, str]) -> str | None:
    """The image manifest a descriptor of index.json leads to (an index: the manifest of
    the wanted platform, else the only one)."""
    if not isinstance(desc, dict):
        return None
    digest = dg.validate(str(desc.get("digest", "")))
    media_type = desc.get("mediaType")
    if media_type in (OCI_MANIFEST, DOCKER_MANIFEST):
        return digest
    if media_type not in (OCI_INDEX, DOCKER_LIST):
        return None
    inner = archive.read_json(archive.blob(digest))
    candidates = [m for m in inner.get("manifests") or () if isinstance(m, dict)]
    present = [m for m in candidates if archive.has(archive.blob(str(m.get("digest", ""))))]
    for m in present:
        plat = m.get("platform") or {}
        if (plat.get("os"), plat.get("architecture")) == want:
            return _manifest_for(archive, m, want)
    if len(present) == 1:
        return _manifest_for(archive, present[0], want)
    return None


def _name_of(annotations: dict[str, Any]) -> refs.Reference | None:
    for key in (NAME_ANNOTATION, REF_ANNOTATION):
        value = annotations.get(key)
        if not value:
            continue
        try:
            ref = refs.parse_docker_ref(str(value))
        except InvalidParameter:
            continue
        # A bare ref.name (skopeo's `oci-archive:x.tar:latest`) is a tag, not an image name.
        if key == REF_ANNOTATION and "/" not in str(value) and ":" not in str(value):
            return None
        if ref.tag:
            return ref
    return None
