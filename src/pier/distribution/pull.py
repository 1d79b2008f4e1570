"""Pull: a reference -> manifest (via an index for the wanted platform) -> config ->
layer blobs, downloaded concurrently (3 at once, Docker's default) -> the one ingest path,
which unpacks the new layers in parallel.

Progress is moby's, message for message. A failure leaves nothing half-stored: blobs
this pull committed that no recorded layer uses are dropped, the ingest records nothing
unless everything verified; only an *interrupted* download keeps its partial ingest, to
be resumed with `Range` by the next pull.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pier.distribution import manifests as mf
from pier.distribution.auth import AuthConfig
from pier.distribution.backend import ImageBackend, lease
from pier.distribution.client import RegistryCallFailed, RegistryClient, Repository
from pier.distribution.fetch import BlobDownloader, get_manifest, get_small_blob
from pier.distribution.progress import Progress
from pier.distribution.stream import LayerStream
from pier.errors import InvalidParameter, NoSuchImage, NotFound, PierError, Unavailable
from pier.images.model import LAYER_MEDIA_TYPES, LayerBlob, ManifestRef
from pier.oci import digest as dg
from pier.oci import reference as refs
from pier.oci.image import ImageSpec

CONCURRENT_DOWNLOADS = 3
CONFIG_TYPES = (mf.DOCKER_CONFIG, mf.OCI_CONFIG)


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequest:
    ref: refs.Reference  # normalised; name only = every tag (`pull -a`)
    auth: AuthConfig
    platform: mf.Platform | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    """What a reference resolves to: the digest Docker reports and records (an index's
    when there is one) and the platform's manifest."""

    digest: str
    manifest: mf.Manifest
    platforms: tuple[mf.Platform, ...] = ()


def not_found(exc: RegistryCallFailed, ref: refs.Reference) -> PierError:
    """moby's translatePullError wording for a manifest fetch."""
    first = exc.first
    code = first.code if first else ""
    if code == "MANIFEST_UNKNOWN":
        return NotFound(f"manifest for {ref.familiar()} not found: {first}")
    if code == "NAME_UNKNOWN":
        return NotFound(f"repository {ref.familiar_name} not found: {first}")
    if code == "DENIED" or exc.status in (401, 403) or (exc.status == 404 and not first):
        detail = f": {first}" if first else ""
        return NotFound(
            f"pull access denied for {ref.familiar_name}, repository does not exist or may "
            f"require 'docker login'{detail}"
        )
    return exc.to_pier_error()


def layer_media_type(desc: mf.Descriptor) -> str:
    if desc.media_type in LAYER_MEDIA_TYPES:
        return desc.media_type
    if desc.foreign:
        if desc.media_type.endswith("zstd"):
            return mf.OCI_LAYER_ZSTD
        return mf.OCI_LAYER_GZIP if "gzip" in desc.media_type else mf.OCI_LAYER
    raise InvalidParameter(f"media type {desc.media_type!r} is not supported")


async def resolve(repo: Repository, ref: refs.Reference, want: mf.Platform) -> Resolved:
    reference = ref.digest or ref.tag
    try:
        raw, content_type, digest = await get_manifest(repo, reference)
    except RegistryCallFailed as exc:
        raise not_found(exc, ref) from exc
    doc = mf.parse(raw, content_type)
    if isinstance(doc, mf.Manifest):
        return Resolved(digest=digest, manifest=doc)
    desc = doc.select(want)
    inner_raw, inner_type, _ = await get_manifest(repo, desc.digest)
    inner = mf.parse(inner_raw, inner_type)
    if not isinstance(inner, mf.Manifest):
        raise InvalidParameter("nested manifest lists are not supported")
    return Resolved(digest=digest, manifest=inner, platforms=tuple(doc.platforms()))


class Puller:
    def __init__(
        self, *, client: RegistryClient, images: ImageBackend, downloader: BlobDownloader
    ) -> None:
        self._client = client
        self._images = images
        self._downloader = downloader

    async def open(self, ref: refs.Reference, auth: AuthConfig, actions: str) -> list[Repository]:
        return [
            await self._client.repository(e, ref.path, auth, actions)
            for e in await self._client.endpoints(ref.domain)
        ]

    async def pull(self, req: PullRequest, progress: Progress) -> None:
        endpoints = await self._client.endpoints(req.ref.domain)
        error: BaseException | None = None
        for index, endpoint in enumerate(endpoints):
            last = index == len(endpoints) - 1
            try:
                repo = await self._client.repository(endpoint, req.ref.path, req.auth, "pull")
                await self._pull_repository(repo, req, progress)
                return
            except PierError as exc:
                # A mirror that fails gives way to the next endpoint (moby's continueOnError).
                if last or not endpoint.mirror:
                    raise
                error = exc
        if error is not None:
            raise error

    async def _pull_repository(
        self, repo: Repository, req: PullRequest, progress: Progress
    ) -> None:
        ref = req.ref
        if not ref.name_only:
            new = await self.pull_one(repo, ref, req.platform, progress)
            shown = ref.familiar()
        else:
            new = False
            for tag in await list_tags(repo, ref):
                new = await self.pull_one(repo, ref.with_tag(tag), req.platform, progress) or new
            shown = ref.familiar_name
        status = "Downloaded newer image for " if new else "Image is up to date for "
        progress.message("", "Status: " + status + shown)

    async def pull_one(
        self,
        repo: Repository,
        ref: refs.Reference,
        platform: mf.Platform | None,
        progress: Progress,
    ) -> bool:
        """Pull one tag or digest; True when anything new was stored or tagged."""
        want = platform or mf.host()
        resolved = await resolve(repo, ref, want)
        manifest = resolved.manifest
        if manifest.config.media_type not in CONFIG_TYPES and manifest.config.media_type:
            raise InvalidParameter(
                f"Encountered remote {manifest.config.media_type!r}(unknown) when fetching"
            )
        progress.message(ref.digest or ref.tag, "Pulling from " + ref.familiar_name)
        config = await get_small_blob(repo, manifest.config, mf.MAX_CONFIG_SIZE)
        spec = ImageSpec.from_bytes(config)
        if platform is not None and not mf.matches(
            platform, {"os": spec.os, "architecture": spec.architecture, "variant": spec.variant}
        ):
            found = mf.Platform(os=spec.os, architecture=spec.architecture, variant=spec.variant)
            raise NotFound(
                f"image with reference {ref.familiar()} was found but its platform ({found}) "
                f"does not match the specified platform ({platform})"
            )
        if len(spec.diff_ids) != len(manifest.layers):
            raise InvalidParameter(
                f"image config lists {len(spec.diff_ids)} layers but the manifest has "
                f"{len(manifest.layers)}"
            )
        image_id = dg.from_bytes(config)
        # Downloaded blobs are unreferenced until the ingest records them: leased.
        with lease(self._images, f"pull {ref}"):
            blobs, todo = await self._plan(manifest, spec, progress)
            if await self._exists(image_id):
                downloaded = await self._download(repo, manifest, todo, {}, progress)
                new = await self._record_existing(ref, resolved.digest, image_id, downloaded)
            else:
                await self._fetch_and_ingest(
                    repo, ref, resolved.digest, manifest, config, blobs, todo, progress
                )
                new = True
        progress.message("", "Digest: " + resolved.digest)
        await self._images.log_event("pull", image_id, ref.familiar())
        return new

    async def _plan(
        self, manifest: mf.Manifest, spec: ImageSpec, progress: Progress
    ) -> tuple[list[LayerBlob], list[int]]:
        """Every layer's blob, and the indexes of those to download (the others are
        here: "Already exists")."""
        chain = dg.chain_ids(list(spec.diff_ids))
        known = await self._images.known_layers(chain)
        blobs: list[LayerBlob] = []
        todo: list[int] = []
        for i, desc in enumerate(manifest.layers):
            ident = dg.short_id(desc.digest)
            if chain[i] in known:
                progress.message(ident, "Already exists")
                blobs.append(known[chain[i]])
            else:
                blobs.append(
                    LayerBlob(digest=desc.digest, media_type=layer_media_type(desc), size=desc.size)
                )
                progress.message(ident, "Pulling fs layer")
                todo.append(i)
        for i in todo[CONCURRENT_DOWNLOADS:]:
            progress.message(dg.short_id(manifest.layers[i].digest), "Waiting")
        return blobs, todo

    async def _exists(self, image_id: str) -> bool:
        try:
            await self._images.resolve(image_id)
        except NoSuchImage:
            return False
        return True

    def _downloads(
        self,
        repo: Repository,
        manifest: mf.Manifest,
        todo: Sequence[int],
        streams: Mapping[int, LayerStream],
        progress: Progress,
    ) -> list[asyncio.Future[None]]:
        """One task per layer to download, 3 at once; each finishes (or fails) its
        layer's stream, if it has one, after saying "Download complete"."""
        gate = asyncio.Semaphore(CONCURRENT_DOWNLOADS)

        async def one(desc: mf.Descriptor, stream: LayerStream | None) -> None:
            ident = dg.short_id(desc.digest)
            try:
                async with gate:
                    await self._downloader.download(
                        repo,
                        desc,
                        lambda cur, total: progress.update(ident, "Downloading", cur, total),
                        lambda: progress.message(ident, "Verifying Checksum"),
                        stream,
                    )
                progress.message(ident, "Download complete")
            except BaseException as exc:
                if stream is not None:
                    stream.fail(exc)
                raise
            if stream is not None:
                stream.finish()

        return [asyncio.ensure_future(one(manifest.layers[i], streams.get(i))) for i in todo]

    async def _download(
        self,
        repo: Repository,
        manifest: mf.Manifest,
        todo: Sequence[int],
        streams: Mapping[int, LayerStream],
        progress: Progress,
    ) -> list[str]:
        """Download the layers `todo`; returns their digests. All or nothing."""
        digests = [manifest.layers[i].digest for i in todo]
        try:
            await _all_or_nothing(self._downloads(repo, manifest, todo, streams, progress))
        except BaseException:
            await self._images.discard_blobs(digests)
            raise
        return digests

    async def _fetch_and_ingest(
        self,
        repo: Repository,
        ref: refs.Reference,
        manifest_digest: str,
        manifest: mf.Manifest,
        config: bytes,
        blobs: list[LayerBlob],
        todo: Sequence[int],
        progress: Progress,
    ) -> None:
        """Download the new layers and unpack each while it arrives, then record the
        image. Downloads and unpacking run side by side; the first failure of either
        stops the other, and whatever this pull stored goes."""
        tags = [ref] if ref.tag and not ref.digest else []
        manifests = [ManifestRef(repository=ref.name, digest=manifest_digest)]
        streams = {i: LayerStream() for i in todo}
        downloads = self._downloads(repo, manifest, todo, streams, progress)
        ingest = asyncio.ensure_future(
            self._images.ingest(
                layers=blobs,
                config=config,
                tags=tags,
                manifests=manifests,
                progress=_IngestProgress(progress, blobs),
                sources={i: s.open for i, s in streams.items()},
            )
        )
        try:
            await _downloads_then_ingest(downloads, ingest)
        except BaseException:
            await self._images.discard_blobs([manifest.layers[i].digest for i in todo])
            raise
        finally:
            for stream in streams.values():
                stream.close()

    async def _record_existing(
        self, ref: refs.Reference, manifest_digest: str, image_id: str, downloaded: list[str]
    ) -> bool:
        """The image is here already: tag it and note the manifest; True when the tag
        moved."""
        await self._images.discard_blobs(downloaded)
        new = False
        if ref.tag and not ref.digest:
            try:
                current = (await self._images.resolve(str(ref))).id
            except NotFound:
                current = ""
            if current != image_id:
                await self._images.tag(image_id, ref.name, ref.tag)
                new = True
        await self._images.add_manifest(ref.name, manifest_digest, image_id)
        return new


class _IngestProgress:
    """The ingest's per-layer hooks as Docker's `Extracting` / `Pull complete`."""

    def __init__(self, progress: Progress, blobs: Sequence[LayerBlob]) -> None:
        self._progress = progress
        self._blobs = blobs

    def layer_exists(self, index: int, blob: LayerBlob) -> None:
        return None  # said already ("Already exists") before the download

    def layer_started(self, index: int, blob: LayerBlob) -> None:
        # Unpacking starts with the download; Docker's order ("Download complete", then
        # "Extracting") is kept by saying it all when the layer is done.
        return None

    def layer_done(self, index: int, blob: LayerBlob) -> None:
        ident = dg.short_id(blob.digest)
        self._progress.update(ident, "Extracting", blob.size, blob.size)
        self._progress.message(ident, "Pull complete")


async def _all_or_nothing(tasks: Sequence[asyncio.Future[None]]) -> None:
    """Wait for every task; on the first failure cancel the rest, wait for them, raise."""
    if not tasks:
        return
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


async def _downloads_then_ingest(
    downloads: Sequence[asyncio.Future[None]], ingest: asyncio.Future[Any]
) -> None:
    """Wait for the downloads and the ingest reading them. A failed download cancels the
    others (their streams fail, so the ingest stops reading and fails too). A failed
    ingest lets the downloads end first: a corrupt blob often trips the decompressor
    before its download sees the wrong digest, and the pull must report what Docker
    reports, the verification failure. The ingest runs in a thread that cannot be
    cancelled: it is always waited for, so nothing it makes outlives the pull. A
    download's error wins over the ingest's."""
    pending: set[asyncio.Future[Any]] = {*downloads, ingest}
    failed_download = False
    try:
        while pending and not failed_download:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            failed_download = any(t is not ingest and t.exception() is not None for t in done)
    finally:
        if failed_download or pending - {ingest}:
            for task in downloads:
                if failed_download or not task.done():
                    # Not failed yet: only a cancelled pull leaves some running here.
                    task.cancel()
        for task in downloads:
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(BaseException):
            await asyncio.shield(ingest)
    for task in (*downloads, ingest):
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def list_tags(repo: Repository, ref: refs.Reference) -> list[str]:
    from pier.distribution.fetch import read_bounded

    out: list[str] = []
    url: str | None = repo.url("tags/list")
    while url:
        try:
            resp = await repo.request("GET", url)
        except RegistryCallFailed as exc:
            raise not_found(exc, ref) from exc
        link = resp.headers.get("Link", "")
        body = mf.load_json(await read_bounded(resp, mf.MAX_MANIFEST_SIZE, "tag list"), "tag list")
        out.extend(str(t) for t in body.get("tags") or ())
        url = _next_link(repo, link)
    if not out:
        raise Unavailable(f"no tags found for {ref.familiar_name}")
    return sorted(set(out))


def _next_link(repo: Repository, link: str) -> str | None:
    # RFC 5988 as distribution sends it: `</v2/x/tags/list?n=100&last=b>; rel="next"`.
    if 'rel="next"' not in link or "<" not in link:
        return None
    target = link[link.index("<") + 1 : link.index(">")]
    return target if "://" in target else repo.base + target
