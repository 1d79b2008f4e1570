"""Push: an image's layer blobs, its config and a manifest, to a repository.

Per layer (moby's push_v2, message for message): a HEAD finds blobs the registry has
("Layer already exists"); else a cross-repository mount is tried from another repository
of the same registry the image is known by ("Mounted from x"); else the blob is uploaded,
monolithically (POST then one PUT) or in chunks (PATCH with Content-Range, then PUT) when
a chunk size is set. Layers stored uncompressed are gzipped first, as Docker does;
compressed ones go as stored, so a pulled image pushes the same bytes. Then the manifest
(Docker schema 2, or OCI when a layer is zstd) is put by tag, and its digest becomes a
RepoDigest.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from pier.distribution import manifests as mf
from pier.distribution.auth import AuthConfig
from pier.distribution.backend import ImageBackend
from pier.distribution.client import RegistryCallFailed, RegistryClient, Repository
from pier.distribution.progress import Progress
from pier.errors import InvalidParameter, NotFound, SystemFailure
from pier.images.model import MEDIA_TYPE_TAR, MEDIA_TYPE_TAR_ZSTD, ImageRecord, LayerBlob
from pier.oci import digest as dg
from pier.oci import reference as refs
from pier.oci.image import ImageSpec

CONCURRENT_UPLOADS = 5  # dockerd's max-concurrent-uploads default
_READ = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class PushRequest:
    ref: refs.Reference  # normalised; no tag = every tag of the repository
    auth: AuthConfig
    chunk_size: int = 0  # 0: monolithic uploads


@dataclass(frozen=True, slots=True, kw_only=True)
class _Source:
    """A layer as it will be uploaded: a stored blob or a gzipped copy in a temp file."""

    descriptor: mf.Descriptor
    path: str
    temporary: bool


class Pusher:
    def __init__(self, *, client: RegistryClient, images: ImageBackend, tmp_dir: Path) -> None:
        self._client = client
        self._images = images
        self._tmp = tmp_dir

    async def push(self, req: PushRequest, records: list[ImageRecord], progress: Progress) -> None:
        """Push `req.ref` (its tag, or every tag among `records`, the local images)."""
        ref = req.ref
        if ref.digest:
            raise InvalidParameter("cannot push a digest reference")
        progress.message("", f"The push refers to repository [{ref.name}]")
        tagged = _tags_of(ref, records)
        if not tagged:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        endpoint = (await self._client.endpoints(ref.domain))[-1]
        repo = await self._client.repository(endpoint, ref.path, req.auth, "pull,push")
        for tag_ref, record in tagged:
            await self._push_tag(repo, tag_ref, record, req, progress)

    async def _push_tag(
        self,
        repo: Repository,
        ref: refs.Reference,
        record: ImageRecord,
        req: PushRequest,
        progress: Progress,
    ) -> None:
        config = await asyncio.to_thread(self._images.config_bytes, record.id)
        spec = ImageSpec.from_bytes(config)
        blobs = await self._images.layer_blobs(record.id)
        mounts = _mount_sources(ref, record)
        idents = [dg.short_id(d) for d in spec.diff_ids]
        for ident in reversed(idents):
            progress.message(ident, "Preparing")
        for ident in reversed(idents[: max(0, len(idents) - CONCURRENT_UPLOADS)]):
            progress.message(ident, "Waiting")
        gate = asyncio.Semaphore(CONCURRENT_UPLOADS)
        sources: list[_Source | None] = [None] * len(blobs)

        async def one(i: int) -> None:
            async with gate:
                sources[i] = await self._prepare(blobs[i])
                await self._upload_layer(repo, sources[i], idents[i], mounts, req, progress)  # type: ignore[arg-type]

        try:
            await asyncio.gather(*(one(i) for i in range(len(blobs))))
            zstd = any(b.media_type == MEDIA_TYPE_TAR_ZSTD for b in blobs)
            config_desc = mf.Descriptor(
                media_type=mf.OCI_CONFIG if zstd else mf.DOCKER_CONFIG,
                digest=record.id,
                size=len(config),
            )
            await self._upload_config(repo, config_desc, config)
            layers = [_for_manifest(s.descriptor, oci=zstd) for s in sources if s is not None]
        finally:
            for s in sources:
                if s is not None and s.temporary:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(s.path)
        media_type = mf.OCI_MANIFEST if zstd else mf.DOCKER_MANIFEST
        raw = mf.render_manifest(media_type=media_type, config=config_desc, layers=layers)
        resp = await repo.request(
            "PUT",
            repo.url(f"manifests/{ref.tag}"),
            headers={"Content-Type": media_type},
            data=raw,
            expect=(200, 201, 202),
        )
        resp.release()
        digest = dg.from_bytes(raw)
        progress.message("", f"{ref.tag}: digest: {digest} size: {len(raw)}")
        progress.aux({"Tag": ref.tag, "Digest": digest, "Size": len(raw)})
        await self._images.add_manifest(ref.name, digest, record.id)
        await self._images.log_event("push", record.id, ref.familiar())

    async def _prepare(self, blob: LayerBlob) -> _Source:
        path = await asyncio.to_thread(self._images.content.path, blob.digest)
        if blob.media_type != MEDIA_TYPE_TAR:
            return _Source(
                descriptor=mf.Descriptor(
                    media_type=blob.media_type, digest=blob.digest, size=blob.size
                ),
                path=path,
                temporary=False,
            )
        digest, size, tmp = await asyncio.to_thread(_gzip_copy, path, self._tmp)
        return _Source(
            descriptor=mf.Descriptor(media_type=mf.OCI_LAYER_GZIP, digest=digest, size=size),
            path=tmp,
            temporary=True,
        )

    async def _upload_layer(
        self,
        repo: Repository,
        source: _Source,
        ident: str,
        mounts: list[str],
        req: PushRequest,
        progress: Progress,
    ) -> None:
        desc = source.descriptor
        if await _exists(repo, desc.digest):
            progress.message(ident, "Layer already exists")
            return
        location = None
        for path in mounts:
            repo.with_mount_source(path)
            resp = await repo.request(
                "POST",
                repo.url(f"blobs/uploads/?mount={desc.digest}&from={path}"),
                expect=(201, 202),
            )
            resp.release()
            if resp.status == 201:
                progress.message(ident, f"Mounted from {path}")
                return
            location = _location(repo, resp.headers.get("Location", ""))
            break
        if location is None:
            resp = await repo.request("POST", repo.url("blobs/uploads/"), expect=(202,))
            resp.release()
            location = _location(repo, resp.headers.get("Location", ""))

        def on_bytes(current: int) -> None:
            progress.update(ident, "Pushing", current, desc.size)

        await _send(repo, location, source, req.chunk_size, on_bytes)
        progress.message(ident, "Pushed")

    async def _upload_config(self, repo: Repository, desc: mf.Descriptor, config: bytes) -> None:
        if await _exists(repo, desc.digest):
            return
        resp = await repo.request("POST", repo.url("blobs/uploads/"), expect=(202,))
        resp.release()
        location = _location(repo, resp.headers.get("Location", ""))
        put = await repo.request(
            "PUT",
            _with_digest(location, desc.digest),
            headers={"Content-Type": "application/octet-stream"},
            data=config,
            expect=(201, 204),
        )
        put.release()


def _tags_of(
    ref: refs.Reference, records: list[ImageRecord]
) -> list[tuple[refs.Reference, ImageRecord]]:
    out = []
    for record in records:
        for tag in record.repo_tags:
            named = refs.parse_normalized(tag)
            if named.name == ref.name and (not ref.tag or named.tag == ref.tag):
                out.append((named, record))
    return sorted(out, key=lambda item: item[0].tag)


def _mount_sources(ref: refs.Reference, record: ImageRecord) -> list[str]:
    """Other repositories of the same registry this image is known by: a blob there can
    be mounted instead of uploaded (moby asks its v2 metadata the same question)."""
    out: list[str] = []
    for name in (*record.repo_digests, *record.repo_tags):
        named = refs.parse_normalized(name)
        if named.domain == ref.domain and named.path != ref.path and named.path not in out:
            out.append(named.path)
    return out[:3]


def _for_manifest(desc: mf.Descriptor, *, oci: bool) -> mf.Descriptor:
    media_type = desc.media_type
    if not oci and media_type in (mf.OCI_LAYER_GZIP, mf.DOCKER_LAYER_GZIP):
        media_type = mf.DOCKER_LAYER_GZIP
    elif not oci and media_type == mf.OCI_LAYER:
        media_type = "application/vnd.docker.image.rootfs.diff.tar"
    elif oci and media_type == mf.DOCKER_LAYER_GZIP:
        media_type = mf.OCI_LAYER_GZIP
    return mf.Descriptor(media_type=media_type, digest=desc.digest, size=desc.size)


async def _exists(repo: Repository, digest: str) -> bool:
    try:
        resp = await repo.request("HEAD", repo.url(f"blobs/{digest}"), expect=(200,))
    except RegistryCallFailed as exc:
        if exc.status == 404:
            return False
        raise
    resp.release()
    return True


def _location(repo: Repository, location: str) -> str:
    if not location:
        raise SystemFailure("the registry answered an upload without a Location")
    if "://" in location:
        return location
    return repo.base + location


def _with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + "digest=" + digest


async def _read_file(
    path: str, start: int, length: int, on_bytes: Callable[[int], None], done: int
) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:
        await asyncio.to_thread(f.seek, start)
        left = length
        sent = done
        while left > 0:
            block = await asyncio.to_thread(f.read, min(_READ, left))
            if not block:
                raise SystemFailure(f"{path}: shorter than expected")
            left -= len(block)
            sent += len(block)
            on_bytes(sent)
            yield block


async def _send(
    repo: Repository,
    location: str,
    source: _Source,
    chunk_size: int,
    on_bytes: Callable[[int], None],
) -> None:
    desc = source.descriptor
    headers = {"Content-Type": "application/octet-stream"}
    if chunk_size <= 0:
        resp = await repo.request(
            "PUT",
            _with_digest(location, desc.digest),
            headers={**headers, "Content-Length": str(desc.size)},
            data=_read_file(source.path, 0, desc.size, on_bytes, 0),
            expect=(201, 204),
        )
        resp.release()
        return
    offset = 0
    while offset < desc.size:
        length = min(chunk_size, desc.size - offset)
        resp = await repo.request(
            "PATCH",
            location,
            headers={
                **headers,
                "Content-Range": f"{offset}-{offset + length - 1}",
                "Content-Length": str(length),
            },
            data=_read_file(source.path, offset, length, on_bytes, offset),
            expect=(202,),
        )
        resp.release()
        location = _location(repo, resp.headers.get("Location", location))
        offset += length
    resp = await repo.request(
        "PUT",
        _with_digest(location, desc.digest),
        headers={"Content-Length": "0"},
        expect=(201, 204),
    )
    resp.release()


def _gzip_copy(path: str, tmp_dir: Path) -> tuple[str, int, str]:
    """Gzip the file at `path` into a temp file: (digest, size, temp path). mtime 0 and a
    fixed level make it deterministic, so a second push finds the first one's blob."""
    fd, tmp = tempfile.mkstemp(prefix="push-", suffix=".tar.gz", dir=tmp_dir)
    hasher = hashlib.sha256()

    class _Hashing:
        def __init__(self, raw: object) -> None:
            self.size = 0

        def write(self, data: bytes) -> int:
            hasher.update(data)
            self.size += len(data)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            return len(data)

        def flush(self) -> None:
            return None

    sink = _Hashing(None)
    try:
        with (
            open(path, "rb") as src,
            gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6, mtime=0, filename="") as gz,
        ):
            while block := src.read(_READ):
                gz.write(block)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    return "sha256:" + hasher.hexdigest(), sink.size, tmp
