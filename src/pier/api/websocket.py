"""GET /containers/{id}/attach/ws: an attach session carried over a websocket.

The attach session (pier.containers.attach) talks to a `ClientStream`;
WebSocketStream is one over a websocket, so both attach endpoints share one session. What
Docker does here (moby's wsContainersAttach on golang.org/x/net/websocket):

- the output is never multiplexed, with or without a TTY: messages carry the payload
  only, binary from API 1.28 on and text before (one message per output chunk here);
- every data message, text or binary, is stdin;
- below API 1.42 the stdin/stdout/stderr parameters are ignored and all three are on;
- when the container's output ends the server sends a close frame (1000);
- Origin is not checked (x/net's websocket.Server without a Handshake accepts any).
  Pierd serves only UNIX sockets, which a browser page cannot reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from aiohttp import WSMsgType, web

from pier.api.routing import api_version, query_bool
from pier.containers.attach import AttachOptions
from pier.containers.model import Container
from pier.containers.streams import Chunk, ClientStream
from pier.errors import PierError

log = logging.getLogger(__name__)

# Messages held between the websocket and the session's stdin pump: a client that
# sends faster than the container reads is slowed down instead of buffered in pierd.
STDIN_BACKLOG = 16


class WebSocketStream:
    """A prepared websocket as a `ClientStream`: `read()` gives stdin messages (b""
    once the client has closed), `send()` sends each output chunk as one message.

    A websocket has no half-close: the client's close frame is both the end of stdin
    and the end of the connection. So that the stdin sent just before it still reaches
    the container, `wait_closed()` waits until the reader has taken the end of stdin,
    unless nobody reads yet (a session waiting for the container to start)."""

    def __init__(self, ws: web.WebSocketResponse, *, binary: bool) -> None:
        self._ws = ws
        self._opcode = WSMsgType.BINARY if binary else WSMsgType.TEXT
        self._incoming: asyncio.Queue[bytes] = asyncio.Queue(STDIN_BACKLOG)
        self._peer_gone = False
        self._reading = False
        self._eof = False
        self._closed = asyncio.Event()
        self._receiver = asyncio.create_task(self._receive())

    async def _receive(self) -> None:
        try:
            while (data := await self._next_message()) is not None:
                if data:  # an empty message is not the end of stdin
                    await self._incoming.put(data)
        except Exception as exc:
            log.debug("websocket attach: receive failed: %s", exc)
        self._peer_gone = True
        self._update_closed()
        await self._incoming.put(b"")

    async def _next_message(self) -> bytes | None:
        """The next data message's bytes; None once the client has closed (aiohttp has
        answered its close frame) or the connection is gone."""
        msg = await self._ws.receive()
        if msg.type == WSMsgType.BINARY:
            return bytes(msg.data)
        if msg.type == WSMsgType.TEXT:
            return str(msg.data).encode()
        return None

    def _update_closed(self) -> None:
        if self._peer_gone and (self._eof or not self._reading):
            self._closed.set()

    async def read(self) -> bytes:
        if self._eof:
            return b""
        self._reading = True
        data = await self._incoming.get()
        if not data:
            self._eof = True
            self._update_closed()
        return data

    async def send(self, chunks: Sequence[Chunk]) -> None:
        for _, payload in chunks:
            if payload:
                await self._send_message(payload)

    async def _send_message(self, payload: bytes) -> None:
        if self._ws.closed:
            if self._reading and not self._eof:
                # Nobody will see this output, but the stdin the client sent before
                # its close is still on its way in: let the session carry on.
                return
            raise ConnectionResetError("client went away")
        await self._ws.send_frame(payload, self._opcode)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        """Docker's end of the attach: a close frame (1000), then the connection goes."""
        try:
            await self._ws.close()
        finally:
            self._receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiver


def _at_least(version: str, wanted: tuple[int, int]) -> bool:
    major, _, minor = version.partition(".")
    return (int(major), int(minor or 0)) >= wanted


def _options(request: web.Request) -> AttachOptions:
    if _at_least(api_version(request), (1, 42)):
        stdin, stdout, stderr = (query_bool(request, n) for n in ("stdin", "stdout", "stderr"))
    else:
        stdin = stdout = stderr = True
    return AttachOptions(
        stream=query_bool(request, "stream"),
        logs=query_bool(request, "logs"),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        # Docker treats an empty value as absent: the default keys.
        detach_keys=request.query.get("detachKeys") or None,
    )


def _subprotocols(request: web.Request) -> tuple[str, ...]:
    """x/net echoes the one subprotocol a client offers (a browser insists on it)."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    offered = [p for p in offered if p]
    return tuple(offered) if len(offered) == 1 else ()


def _asks_for_websocket(request: web.Request) -> bool:
    connection = request.headers.get("Connection", "").lower()
    return request.headers.get("Upgrade", "").lower() == "websocket" and "upgrade" in connection


class _Session(Protocol):
    async def run(self, client: ClientStream) -> None: ...


class Attachments(Protocol):
    def prepare(self, container: Container, options: AttachOptions, ref: str) -> _Session: ...


async def attach_websocket(
    request: web.Request, container: Container, attacher: Attachments
) -> web.StreamResponse:
    """Check the request, upgrade, run the attach session, close with 1000."""
    # Errors come before the upgrade.
    session = attacher.prepare(container, _options(request), request.match_info["id"])
    if not _asks_for_websocket(request):
        return web.Response(status=400, text="not websocket protocol")  # x/net's answer
    ws = web.WebSocketResponse(
        compress=False,  # x/net offers no permessage-deflate
        max_msg_size=0,  # x/net reads stdin frames of any size
        protocols=_subprotocols(request),
    )
    await ws.prepare(request)
    stream = WebSocketStream(ws, binary=_at_least(api_version(request), (1, 28)))
    try:
        await session.run(stream)
    except ConnectionError as exc:
        log.debug("websocket attach to %s: client went away: %s", container.id, exc)
    except PierError as exc:
        log.warning("websocket attach to %s: %s", container.id, exc)
        with contextlib.suppress(ConnectionError):
            await stream.send([(1, f"Error attaching: {exc}\n".encode())])  # as dockerd does
    finally:
        await stream.close()
    return ws
