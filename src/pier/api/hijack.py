"""Hijacked connections: attach and exec start answer `101 UPGRADED` and then carry
raw bytes both ways on the same socket.

aiohttp would keep parsing the bytes after a 101 as new requests and closes the
connection on the client's half-close (DESIGN §11), so the transport is taken over
with our own protocol before the 101 goes out, and `eof_received` returns True so
output keeps flowing after the client has closed its write side (stdin EOF).

aiohttp still counts the connection as its own (its server keeps every connection's
handler until that handler hears `connection_lost`), so the end of a taken-over
connection is handed back to aiohttp's protocol: without it each attach or exec
left its HTTP objects behind for the life of the daemon. The server's shutdown
closes hijacked streams it finds in the app's HIJACKED set.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence

from aiohttp import web

from pier import API_VERSION
from pier.containers.streams import Chunk


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed stream frame: [stream, 0, 0, 0, size BE32] + data."""
    return struct.pack(">BxxxI", stream, len(data)) + data


# The hijacked streams still open, per application (the server closes them on shutdown).
HIJACKED = web.AppKey("pier.hijacked", set["HijackedStream"])


class _Takeover(asyncio.Protocol):
    def __init__(self, stream: HijackedStream, previous: asyncio.BaseProtocol | None) -> None:
        self._stream = stream
        self._previous = previous

    def data_received(self, data: bytes) -> None:
        self._stream._incoming.put_nowait(data)

    def eof_received(self) -> bool:
        self._stream._incoming.put_nowait(b"")
        return True  # keep the write side open: output still flows after stdin EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self._stream._closed.set()
        self._stream._incoming.put_nowait(b"")
        self._stream._forget()
        previous, self._previous = self._previous, None
        if previous is not None:
            previous.connection_lost(exc)  # aiohttp's bookkeeping of the connection

    def pause_writing(self) -> None:
        self._stream._writable.clear()

    def resume_writing(self) -> None:
        self._stream._writable.set()


class HijackedStream:
    """The raw connection after a 101: `read()` client bytes (b"" at EOF), `write()`
    bytes to the client with back-pressure, `close()` when done."""

    def __init__(
        self, transport: asyncio.Transport, registry: set[HijackedStream] | None = None
    ) -> None:
        self._transport = transport
        self._incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._eof = False
        self._registry = registry
        if registry is not None:
            registry.add(self)

    def _forget(self) -> None:
        if self._registry is not None:
            self._registry.discard(self)
            self._registry = None

    async def read(self) -> bytes:
        if self._eof:
            return b""
        data = await self._incoming.get()
        if not data:
            self._eof = True
        return data

    async def write(self, data: bytes) -> None:
        if self._closed.is_set() or self._transport.is_closing():
            raise ConnectionResetError("client went away")
        self._transport.write(data)
        await self._writable.wait()

    @property
    def closed(self) -> bool:
        return self._closed.is_set() or self._transport.is_closing()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def close(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()


class HijackedClient:
    """A hijacked connection as the containers' `ClientStream`: output is encoded
    raw (a TTY, or an exec started with Tty) or in Docker's multiplexed frames."""

    def __init__(self, stream: HijackedStream, *, raw: bool) -> None:
        self._stream = stream
        self._raw = raw

    async def read(self) -> bytes:
        return await self._stream.read()

    async def wait_closed(self) -> None:
        await self._stream.wait_closed()

    async def send(self, chunks: Sequence[Chunk]) -> None:
        if self._raw:
            data = b"".join(d for _, d in chunks)
        else:
            data = b"".join(frame(s, d) for s, d in chunks if d)
        if data:
            await self._stream.write(data)


def hijack(request: web.Request, *, upgrade: bool = True) -> HijackedStream:
    """Take the request's connection over and send the 101 (or, for a client that did
    not ask to upgrade, a 200 with the raw stream as Docker does for old clients)."""
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client went away")
    stream = HijackedStream(transport, request.app.get(HIJACKED))
    transport.set_protocol(_Takeover(stream, request.protocol))
    # Bytes that arrived right behind the request headers were buffered by aiohttp.
    tail = getattr(request.protocol, "_message_tail", b"")
    if tail:
        stream._incoming.put_nowait(bytes(tail))
    if upgrade:
        head = (
            b"HTTP/1.1 101 UPGRADED\r\n"
            b"Content-Type: application/vnd.docker.raw-stream\r\n"
            b"Connection: Upgrade\r\n"
            b"Upgrade: tcp\r\n"
        )
    else:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
    head += f"Api-Version: {API_VERSION}\r\nOstype: linux\r\n\r\n".encode()
    transport.write(head)
    return stream


class Hijacked(web.StreamResponse):
    """What a hijacking handler returns: aiohttp's attempt to send it meets the
    closed transport (a ConnectionError, which aiohttp expects and drops)."""
