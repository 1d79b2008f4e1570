"""`/containers/{id}/archive` (GET, HEAD, PUT: docker cp) and `/containers/{id}/export`."""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Protocol

from aiohttp import web

from pier.api.routing import Route, query_bool
from pier.containers.archive import PathStat
from pier.containers.tarout import TarBody
from pier.errors import InvalidParameter

_STAT_HEADER = "X-Docker-Container-Path-Stat"
_CHUNK = 1 << 20


class Files(Protocol):
    async def stat(self, ref: str, path: str) -> PathStat: ...
    async def get_archive(
        self, ref: str, path: str, start: Callable[[PathStat], Awaitable[TarBody]]
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
    async def export(self, ref: str, start: Callable[[], Awaitable[TarBody]]) -> None: ...


class _UntilClose(web.StreamResponse):
    """A body that ends where the connection does: no chunked framing, so another
    process (tar) can write it into the socket itself. HTTP/1.1 allows it (RFC 9112
    6.3); `Connection: close` says so. The class attribute is how aiohttp's own
    WebSocketResponse turns its length bookkeeping off."""

    _length_check = False


class _SocketBody:
    """A tar's way to the client: the prepared response, or its socket itself."""

    def __init__(self, request: web.Request, response: _UntilClose) -> None:
        self._request = request
        self._response = response

    async def write(self, data: bytes) -> None:
        await self._response.write(data)

    @contextlib.contextmanager
    def direct(self) -> Iterator[int | None]:
        transport = self._request.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if (
            transport is None
            or sock is None
            or transport.is_closing()
            or transport.get_extra_info("sslcontext") is not None  # bytes must be encrypted
            or transport.get_write_buffer_size()  # the headers must go first
        ):
            yield None
            return
        # The loop must not touch the socket meanwhile: a blocking read would stall it.
        transport.pause_reading()
        fd = sock.fileno()
        os.set_blocking(fd, True)
        try:
            yield fd
        finally:
            os.set_blocking(fd, False)


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
        response = _UntilClose(status=200)
        response.force_close()

        async def start(info: PathStat) -> TarBody:
            response.headers[_STAT_HEADER] = stat_header(info)
            response.content_type = "application/x-tar"
            await response.prepare(request)
            return _SocketBody(request, response)

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
        response = _UntilClose(status=200)
        response.force_close()

        async def start() -> TarBody:
            response.content_type = "application/x-tar"
            await response.prepare(request)
            return _SocketBody(request, response)

        await files.export(request.match_info["id"], start)
        await response.write_eof()
        return response

    return [
        Route("HEAD", "/containers/{id}/archive", head),
        Route("GET", "/containers/{id}/archive", get),
        Route("PUT", "/containers/{id}/archive", put),
        Route("GET", "/containers/{id}/export", export),
    ]
