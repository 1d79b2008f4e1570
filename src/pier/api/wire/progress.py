"""Docker's JSON-message streams for long operations (pull, push, load).

moby's rule, kept here: the response starts with the operation's first message, so a
failure before any output is an ordinary error response with its status (a 404 for an
unknown image, which the docker CLI's `run` relies on); a failure after it is the last
line, `{"errorDetail": {"message": m}, "error": m}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pier.distribution.progress import Progress, QueueProgress
from pier.errors import PierError

log = logging.getLogger(__name__)


def line(body: Any) -> bytes:
    # Docker's stream formatter ends every message with CRLF.
    return json.dumps(body, separators=(",", ":")).encode() + b"\r\n"


def error_line(message: str) -> bytes:
    return line({"errorDetail": {"message": message}, "error": message})


async def stream(
    request: web.Request,
    work: Callable[[Progress], Awaitable[None]],
    *,
    quiet: Callable[[dict[str, Any]], bool] | None = None,
) -> web.StreamResponse:
    """Run `work`, streaming what it reports; messages for which `quiet` is true are
    dropped. Cancels the work when the client goes away."""
    progress = QueueProgress(asyncio.get_running_loop())

    async def run() -> None:
        try:
            await work(progress)
        finally:
            progress.close()

    task = asyncio.create_task(run())
    response: web.StreamResponse | None = None
    try:
        while (msg := await progress.queue.get()) is not None:
            if quiet is not None and quiet(msg):
                continue
            if response is None:
                response = await _start(request)
            await response.write(line(msg))
        await asyncio.wait([task])
        exc = task.exception()
        if exc is not None:
            if response is None:
                raise exc
            if not isinstance(exc, PierError):
                log.error("%s %s failed", request.method, request.path, exc_info=exc)
            await response.write(error_line(str(exc) or type(exc).__name__))
        if response is None:
            response = await _start(request)
        await response.write_eof()
        return response
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def _start(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    await response.prepare(request)
    return response
