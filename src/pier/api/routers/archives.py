"""`GET /images/get`, `GET /images/{name}/get` (docker save) and `POST /images/load`."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from aiohttp import web

from pier.api.routing import Route, query_bool
from pier.api.wire import progress as wire
from pier.errors import InvalidParameter

_CHUNK = 1 << 20


class ArchivesProtocol(Protocol):
    async def save(self, names: Sequence[str]) -> Path: ...

    async def load(self, path: Path) -> list[str]: ...


def routes(archives: ArchivesProtocol, tmp_dir: Path) -> list[Route]:
    async def save(request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name")
        names = [name] if name else request.query.getall("names", [])
        if not names:
            raise InvalidParameter("no images specified")
        path = await archives.save(names)
        try:
            response = web.StreamResponse(status=200)
            response.content_type = "application/x-tar"
            await response.prepare(request)
            with open(path, "rb") as f:
                import asyncio

                while block := await asyncio.to_thread(f.read, _CHUNK):
                    await response.write(block)
            await response.write_eof()
            return response
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def load(request: web.Request) -> web.StreamResponse:
        quiet = query_bool(request, "quiet", True)
        fd, name = tempfile.mkstemp(prefix="load-", suffix=".tar", dir=tmp_dir)
        path = Path(name)
        try:
            # The body may be large: stream it to disk, never whole into memory.
            with os.fdopen(fd, "wb") as out:
                async for chunk in request.content.iter_chunked(_CHUNK):
                    out.write(chunk)
            lines = await archives.load(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        del quiet  # the layers are not reported one by one: the summary lines are all
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        await response.prepare(request)
        for line in lines:
            await response.write(wire.line({"stream": line + "\n"}))
        await response.write_eof()
        return response

    return [
        Route("GET", "/images/get", save),
        Route("GET", "/images/{name:.+}/get", save),
        Route("POST", "/images/load", load),
    ]
