"""`POST /images/create?fromSrc=<url>`: the archive downloaded, then imported, as
moby's image router does (an address without a scheme is taken as http://)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import aiohttp
from aiohttp import web

from pier.errors import (
    Forbidden,
    InvalidParameter,
    NotFound,
    PierError,
    SystemFailure,
    Unauthorized,
)
from pier.images.model import ImageRecord

_CHUNK = 1 << 20


class Importer(Protocol):
    @property
    def tmp_dir(self) -> Path: ...

    async def import_archive(
        self,
        path: Path,
        *,
        repo: str | None,
        tag: str | None,
        changes: Sequence[str] = (),
        message: str = "",
        platform: str | None = None,
    ) -> ImageRecord: ...


def _line(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode() + b"\r\n"


def _status_error(address: str, status: int, reason: str, body: bytes) -> PierError:
    """remotecontext.GetWithStatusError's error for a 4xx/5xx answer."""
    said = body.decode(errors="replace").strip()
    text = f"failed to GET {address} with status {status} {reason}: {said}"
    kinds: dict[int, type[PierError]] = {
        404: NotFound, 400: InvalidParameter, 401: Unauthorized, 403: Forbidden,
    }  # fmt: skip
    return kinds.get(status, SystemFailure)(text)


async def import_url(request: web.Request, images: Importer, src: str) -> web.StreamResponse:
    address = src if "://" in src else "http://" + src
    fd, name = tempfile.mkstemp(prefix="import-", suffix=".tar", dir=images.tmp_dir)
    os.close(fd)
    path = Path(name)
    try:
        async with contextlib.AsyncExitStack() as stack:
            session = await stack.enter_async_context(
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=300))
            )
            try:
                resp = await stack.enter_async_context(session.get(address))
            except aiohttp.InvalidURL as exc:
                raise InvalidParameter(f"parse {address!r}: {exc}") from None
            except aiohttp.ClientError as exc:
                raise SystemFailure(f'Get "{address}": {exc}') from None
            if resp.status >= 400:
                raise _status_error(address, resp.status, resp.reason or "", await resp.read())
            # From here on errors travel in the stream, as dockerd's once it has written.
            response = web.StreamResponse(status=200)
            response.content_type = "application/json"
            await response.prepare(request)
            await response.write(_line({"status": f"Downloading from {address}"}))
            try:
                rec = await _download_and_import(request, images, resp, path, response, src)
            except PierError as exc:
                await response.write(_line({"errorDetail": {"message": str(exc)},
                                            "error": str(exc)}))  # fmt: skip
            else:
                await response.write(_line({"status": rec.id}))
            await response.write_eof()
            return response
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    raise AssertionError("unreachable")  # pragma: no cover


async def _download_and_import(
    request: web.Request,
    images: Importer,
    resp: aiohttp.ClientResponse,
    path: Path,
    response: web.StreamResponse,
    src: str,
) -> ImageRecord:
    total = resp.content_length or -1
    current = shown = 0
    out = await asyncio.to_thread(open, path, "wb")
    try:
        try:
            async for chunk in resp.content.iter_chunked(_CHUNK):
                await asyncio.to_thread(out.write, chunk)
                current += len(chunk)
                if current - shown < _CHUNK and current != total:
                    continue  # a progress line a megabyte, not one a read
                shown = current
                detail = {"current": current, "total": total} if total > 0 else {"current": current}
                await response.write(_line({"status": "Importing", "progressDetail": detail}))
        except aiohttp.ClientError as exc:
            raise SystemFailure(f"reading {src}: {exc}") from None
    finally:
        await asyncio.to_thread(out.close)
    return await images.import_archive(
        path,
        repo=request.query.get("repo") or None,
        tag=request.query.get("tag") or None,
        changes=request.query.getall("changes", []),
        message=request.query.get("message") or f"Imported from {src}",
        platform=request.query.get("platform") or None,
    )
