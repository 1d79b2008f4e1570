"""`/containers/{id}/archive` (GET, HEAD, PUT: docker cp) and `/containers/{id}/export`."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from aiohttp import web

from pier.api.routing import Route, query_bool
from pier.containers.archive import PathStat
from pier.errors import InvalidParameter

_STAT_HEADER = "X-Docker-Container-Path-Stat"
_CHUNK = 1 << 20
Writer = Callable[[bytes], Awaitable[None]]


class Files(Protocol):
    async def stat(self, ref: str, path: str) -> PathStat: ...
    async def get_archive(
        self, ref: str, path: str, start: Callable[[PathStat], Awaitable[Writer]]
    ) -> None: ...
    async def put_archive(
        self,
        ref: str,
        path: str,
        body: AsyncIterator[bytes],
        *,
        copy_owner: bool,
        no_overwrite: bool,
    ) -> None: ...
    async def export(self, ref: str, start: Callable[[], Awaitable[Writer]]) -> None: ...


def stat_header(info: PathStat) -> str:
    body = {
        "name": info.name,
        "size": info.size,
        "mode": info.mode,
        "mtime": info.mtime,
        "linkTarget": info.link_target,
    }
    return base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidParameter("Path cannot be empty")
    return path


def routes(files: Files) -> list[Route]:
    async def head(request: web.Request) -> web.StreamResponse:
        info = await files.stat(request.match_info["id"], _path(request))
        return web.Response(status=200, headers={_STAT_HEADER: stat_header(info)})

    async def get(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)

        async def start(info: PathStat) -> Writer:
            response.headers[_STAT_HEADER] = stat_header(info)
            response.content_type = "application/x-tar"
            await response.prepare(request)
            return response.write

        await files.get_archive(request.match_info["id"], _path(request), start)
        await response.write_eof()
        return response

    async def put(request: web.Request) -> web.StreamResponse:
        await files.put_archive(
            request.match_info["id"],
            _path(request),
            request.content.iter_chunked(_CHUNK),
            copy_owner=query_bool(request, "copyUIDGID"),
            no_overwrite=query_bool(request, "noOverwriteDirNonDir"),
        )
        return web.Response(status=200)

    async def export(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)

        async def start() -> Writer:
            response.content_type = "application/x-tar"
            await response.prepare(request)
            return response.write

        await files.export(request.match_info["id"], start)
        await response.write_eof()
        return response

    return [
        Route("HEAD", "/containers/{id}/archive", head),
        Route("GET", "/containers/{id}/archive", get),
        Route("PUT", "/containers/{id}/archive", put),
        Route("GET", "/containers/{id}/export", export),
    ]
