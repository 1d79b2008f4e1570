"""The /images endpoints. Thin: read the request, make one service call, write Docker's JSON."""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from aiohttp import web

from pier.api.routers import distribution as pulls
from pier.api.routers.image_import import import_url
from pier.api.routing import Route, api_version, json_response, query_bool, query_filters
from pier.api.wire import images as wire
from pier.errors import InvalidParameter, NotFound
from pier.images.model import HistoryItem, ImageRecord
from pier.oci import reference as refs

_CHUNK = 1 << 20


class ImagesProtocol(Protocol):
    """What these routes need of the image service (moby's image router backend)."""

    @property
    def tmp_dir(self) -> Path: ...

    async def list(
        self, *, all: bool = False, filters: Mapping[str, Sequence[str]] | None = None
    ) -> builtins.list[ImageRecord]: ...

    async def resolve(self, ref: str) -> ImageRecord: ...

    async def history(self, ref: str) -> builtins.list[HistoryItem]: ...

    async def tag(self, ref: str, repo: str, tag: str | None) -> None: ...

    async def remove(
        self, ref: str, *, force: bool = False, noprune: bool = False
    ) -> builtins.list[dict[str, str]]: ...

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


def _stream_line(body: object) -> bytes:
    # Docker's stream formatter ends every message with CRLF.
    return json.dumps(body, separators=(",", ":")).encode() + b"\r\n"


def routes(
    images: ImagesProtocol, distribution: pulls.DistributionProtocol | None = None
) -> list[Route]:
    summaries = wire.SummaryCache()

    async def list_images(request: web.Request) -> web.StreamResponse:
        filters = query_filters(request)
        records = await images.list(all=query_bool(request, "all"), filters=filters)
        body = summaries.render(records, api_version=api_version(request), complete=not filters)
        return web.Response(body=body, content_type="application/json")

    async def inspect(request: web.Request) -> web.StreamResponse:
        rec = await images.resolve(request.match_info["name"])
        return json_response(wire.image_inspect(rec, api_version=api_version(request)))

    async def history(request: web.Request) -> web.StreamResponse:
        items = await images.history(request.match_info["name"])
        return json_response([wire.history_item(i) for i in items])

    async def tag(request: web.Request) -> web.StreamResponse:
        await images.tag(
            request.match_info["name"],
            request.query.get("repo", ""),
            request.query.get("tag") or None,
        )
        return web.Response(status=201)

    async def remove(request: web.Request) -> web.StreamResponse:
        records = await images.remove(
            request.match_info["name"],
            force=query_bool(request, "force"),
            noprune=query_bool(request, "noprune"),
        )
        return json_response(records)

    async def create(request: web.Request) -> web.StreamResponse:
        from_image = request.query.get("fromImage", "")
        from_src = request.query.get("fromSrc", "")
        if from_image and distribution is not None:
            return await pulls.pull(request, distribution)
        if from_image:
            name = refs.parse_normalized(from_image).familiar_name
            raise NotFound(
                f"pull access denied for {name}, repository does not exist or may require "
                "'docker login'"
            )
        if not from_src:
            raise InvalidParameter("either fromImage or fromSrc is required")
        if from_src != "-":
            return await import_url(request, images, from_src)
        fd, name = tempfile.mkstemp(prefix="import-", suffix=".tar", dir=images.tmp_dir)
        path = Path(name)
        try:
            # The body may be large: stream it to disk, never whole into memory.
            with os.fdopen(fd, "wb") as out:
                async for chunk in request.content.iter_chunked(_CHUNK):
                    out.write(chunk)
            rec = await images.import_archive(
                path,
                repo=request.query.get("repo") or None,
                tag=request.query.get("tag") or None,
                changes=request.query.getall("changes", []),
                message=request.query.get("message", ""),
                platform=request.query.get("platform") or None,
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        # Like Docker, the stream only starts once the import succeeded, so an earlier
        # failure is an ordinary error response with its status.
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        await response.prepare(request)
        await response.write(_stream_line({"status": rec.id}))
        await response.write_eof()
        return response

    return [
        Route("GET", "/images/json", list_images),
        Route("POST", "/images/create", create),
        Route("GET", "/images/{name:.+}/json", inspect),
        Route("GET", "/images/{name:.+}/history", history),
        Route("POST", "/images/{name:.+}/tag", tag),
        Route("DELETE", "/images/{name:.+}", remove),
    ]
