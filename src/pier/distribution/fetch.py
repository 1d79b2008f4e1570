"""Fetching from a repository: manifests and configs (small, bounded, in memory) and layer
blobs (streamed into the content store, verified, resumed with `Range`).

A blob download writes into the content store's ingest `pull-<digest>`; when the
connection drops it retries from the ingest's offset with `Range: bytes=N-`, and when
the whole pull fails (or pierd dies) the partial ingest stays for the next pull to
resume, as containerd's. Only a commit that verified size and digest makes the blob
visible; a mismatch drops the ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiohttp

from pier.content.store import ContentStore, Writer
from pier.distribution import manifests as mf
from pier.distribution.client import Repository
from pier.distribution.stream import LayerStream
from pier.errors import Conflict, InvalidParameter, NotFound, SystemFailure, Unavailable
from pier.oci import digest as dg

_CHUNK = 1 << 20
RETRIES = 5
# moby waits 5 s more each time; a loopback registry that drops a connection
# deserves a quicker second try, and the attempts are bounded anyway.
RETRY_DELAY = 0.2

OnBytes = Callable[[int, int], None]  # (current, total)


async def read_bounded(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The whole body, refusing one longer than `limit` (a registry that sends an
    endless or huge body is cut off there)."""
    length = resp.content_length
    if length is not None and length > limit:
        resp.release()
        raise InvalidParameter(f"{what} too large: {length} bytes (limit {limit})")
    data = bytearray()
    try:
        async for chunk in resp.content.iter_chunked(64 << 10):
            data += chunk
            if len(data) > limit:
                raise InvalidParameter(f"{what} too large: more than {limit} bytes")
    finally:
        resp.release()
    return bytes(data)


async def get_manifest(repo: Repository, reference: str) -> tuple[bytes, str, str]:
    """(raw bytes, content type, digest) of the manifest `reference` (a tag or digest);
    a digest reference is verified against the bytes."""
    resp = await repo.request(
        "GET", repo.url(f"manifests/{reference}"), headers={"Accept": mf.ACCEPT}
    )
    content_type = resp.headers.get("Content-Type", "")
    raw = await read_bounded(resp, mf.MAX_MANIFEST_SIZE, "manifest")
    digest = dg.from_bytes(raw)
    if dg.is_digest(reference) and reference != digest:
        raise InvalidParameter(f"manifest verification failed for digest {reference}")
    return raw, content_type, digest


async def get_small_blob(repo: Repository, desc: mf.Descriptor, limit: int) -> bytes:
    if desc.size > limit:
        raise InvalidParameter(f"blob {desc.digest} too large: {desc.size} bytes")
    resp = await repo.request("GET", repo.url(f"blobs/{desc.digest}"))
    data = await read_bounded(resp, desc.size, "blob")
    if len(data) != desc.size or dg.from_bytes(data) != desc.digest:
        raise InvalidParameter(f"blob {desc.digest}: content does not match its descriptor")
    return data


class BlobDownloader:
    """Downloads layer blobs into the content store, one download per digest at a time
    (a second pull of the same blob waits for the first)."""

    def __init__(self, *, content: ContentStore) -> None:
        self._content = content
        self._inflight: dict[str, asyncio.Future[None]] = {}

    async def have(self, desc: mf.Descriptor) -> bool:
        try:
            info = await asyncio.to_thread(self._content.info, desc.digest)
        except NotFound:
            return False
        return info.size == desc.size

    async def download(
        self,
        repo: Repository,
        desc: mf.Descriptor,
        on_bytes: OnBytes,
        on_verify: Callable[[], None],
        tap: LayerStream | None = None,
    ) -> None:
        """Download `desc` into the content store unless it is there. With `tap`, the
        bytes are handed to it as they are written (the caller finishes it)."""
        while (pending := self._inflight.get(desc.digest)) is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(pending)
        if await self.have(desc):
            await self._attach_stored(desc, tap)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[desc.digest] = done
        try:
            await self._download(repo, desc, on_bytes, on_verify, tap)
            done.set_result(None)
        except BaseException as exc:
            done.set_exception(exc)
            done.exception()  # retrieved: waiters only need to know it ended
            raise
        finally:
            del self._inflight[desc.digest]

    async def _download(
        self,
        repo: Repository,
        desc: mf.Descriptor,
        on_bytes: OnBytes,
        on_verify: Callable[[], None],
        tap: LayerStream | None,
    ) -> None:
        ref = f"pull-{desc.digest}"

        def start() -> Writer:
            writer = self._content.writer(ref, desc.digest, resume=True)
            if tap is not None:
                try:
                    reader = writer.open_written()
                except BaseException as exc:
                    # Suspended, not aborted: what an earlier pull wrote stays for the
                    # next one, which would otherwise find this writer still open and
                    # abort it (its file descriptor held until then).
                    writer.suspend()
                    if isinstance(exc, OSError):
                        raise SystemFailure(f"failed to read ingest {ref}: {exc}") from exc
                    raise
                tap.attach(reader, writer.offset)
            return writer

        try:
            writer = await asyncio.to_thread(start)
        except Conflict:
            await self._attach_stored(desc, tap)  # committed meanwhile
            return
        keep = True  # an interrupted download keeps its partial ingest for the next pull
        try:
            await self._fill(repo, desc, writer, on_bytes, tap)
            keep = False
            on_verify()
            try:
                await asyncio.to_thread(writer.commit, desc.size, desc.digest)
            except InvalidParameter as exc:
                raise InvalidParameter(
                    f"filesystem layer verification failed for digest {desc.digest}"
                ) from exc
        except InvalidParameter:
            keep = False
            raise
        finally:
            if keep:
                await asyncio.to_thread(writer.suspend)
            else:
                await asyncio.to_thread(writer.close)

    async def _attach_stored(self, desc: mf.Descriptor, tap: LayerStream | None) -> None:
        if tap is not None:
            tap.attach(await asyncio.to_thread(self._content.open, desc.digest), desc.size)

    async def _fill(
        self,
        repo: Repository,
        desc: mf.Descriptor,
        writer: Writer,
        on_bytes: OnBytes,
        tap: LayerStream | None,
    ) -> None:
        attempt = 0
        while True:
            try:
                await self._transfer(repo, desc, writer, on_bytes, tap)
                return
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
                attempt += 1
                if attempt > RETRIES:
                    raise Unavailable(
                        f"failed to download {desc.digest} after {RETRIES} retries: {exc}"
                    ) from exc
            except Unavailable:
                attempt += 1
                if attempt > RETRIES:
                    raise
            await asyncio.sleep(RETRY_DELAY * attempt)

    async def _transfer(
        self,
        repo: Repository,
        desc: mf.Descriptor,
        writer: Writer,
        on_bytes: OnBytes,
        tap: LayerStream | None,
    ) -> None:
        offset = writer.offset
        if offset >= desc.size:
            if offset == desc.size:
                return
            raise InvalidParameter(f"blob {desc.digest}: more bytes than its size {desc.size}")
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = await self._open(repo, desc, headers)
        try:
            # A server that ignores the range sends the whole blob: skip what we have.
            skip = offset if resp.status == 200 else 0
            buf = bytearray()
            current = offset
            try:
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk = chunk[dropped:]
                        skip -= dropped
                        if not chunk:
                            continue
                    current += len(chunk)
                    if current > desc.size:
                        raise InvalidParameter(
                            f"blob {desc.digest}: the registry sent more than its size {desc.size}"
                        )
                    buf += chunk
                    if len(buf) >= _CHUNK:
                        await asyncio.to_thread(writer.write, bytes(buf))
                        buf.clear()
                        if tap is not None:
                            tap.advance(writer.offset)
                    on_bytes(current, desc.size)
            finally:
                # What arrived before a drop is a good prefix: keep it, so the retry (or
                # the next pull) asks only for the rest.
                if buf and current <= desc.size:
                    await asyncio.to_thread(writer.write, bytes(buf))
                    if tap is not None:
                        tap.advance(writer.offset)
            if current < desc.size:
                raise aiohttp.ClientPayloadError(f"short read: {current} of {desc.size} bytes")
        finally:
            resp.release()

    async def _open(
        self, repo: Repository, desc: mf.Descriptor, headers: dict[str, str]
    ) -> aiohttp.ClientResponse:
        # A foreign (non-distributable) layer comes from the registry like any other:
        # dockerd on Linux never follows a manifest's `urls` (only its Windows build
        # does), so neither does Pier; a manifest cannot send the daemon elsewhere.
        return await repo.request(
            "GET", repo.url(f"blobs/{desc.digest}"), headers=headers, expect=(200, 206)
        )
