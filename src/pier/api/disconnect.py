"""Noticing that a client went away while its handler waits on something long.

aiohttp runs a handler to its end after the client disconnects (handler cancellation
is off, and turning it on for every route would cut create or remove half-way). A
`POST /containers/{id}/wait` outlives its client often: the docker CLI sends one for
every `run -d` and exits right after the start, so without this each idle container
kept a suspended handler (task, request, response, writer: about 8 KiB) until it
exited. dockerd ends the wait when the request's context is cancelled; so does this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web


class _Watch(asyncio.Protocol):
    """Stands in front of aiohttp's protocol while a handler waits: passes every
    callback on, and sets `lost` when the connection ends."""

    def __init__(self, inner: asyncio.Protocol, lost: asyncio.Future[None]) -> None:
        self._inner = inner
        self._lost = lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._lost.done():
            self._lost.set_result(None)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


@contextmanager
def client_gone(request: web.Request) -> Iterator[asyncio.Future[None]]:
    """A future done once the request's connection is lost (at once if it already
    is); aiohttp's protocol gets its place back on leaving."""
    lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    transport = request.transport
    if transport is None or transport.is_closing():
        lost.set_result(None)
        yield lost
        return
    inner = transport.get_protocol()
    assert isinstance(inner, asyncio.Protocol)
    transport.set_protocol(_Watch(inner, lost))
    try:
        yield lost
    finally:
        if not lost.done():
            transport.set_protocol(inner)
            lost.cancel()
