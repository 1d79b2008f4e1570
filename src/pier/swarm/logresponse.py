"""A task or service log stream sent as an HTTP answer: the same steps for a client of
the Engine API (GET /services|tasks/{id}/logs) and for a manager reading a task's log
from the node that runs it (the cluster port's /tasks/{id}/logs).

The stream's own framing and following are the log source's; this only decides when
the answer starts. The first chunk is awaited before the 200 so that a missing task or
a refused option is an error status, not a 200 with nothing in it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from pier.errors import PierError

Refusal = Callable[[PierError], web.StreamResponse]


async def send_log_stream(
    request: web.Request,
    stream: AsyncIterator[bytes],
    *,
    content_type: str | None = None,
    refuse: Refusal | None = None,
) -> web.StreamResponse:
    """Answer `request` with `stream`'s chunks. An error before the first chunk is
    `refuse`'s answer (raised when None, for a server that maps errors itself); one
    after it ends the answer there, as any broken stream."""
    try:
        first = await anext(stream, b"")
    except PierError as exc:
        if refuse is None:
            raise
        return refuse(exc)
    response = web.StreamResponse(status=200)
    if content_type is not None:
        response.content_type = content_type
        response.enable_chunked_encoding()
    await response.prepare(request)
    if first:
        await response.write(first)
    async for chunk in stream:
        await response.write(chunk)
    await response.write_eof()
    return response
