"""Serving the API over TLS with half-close, which hijacked streams need.

The docker CLI ends stdin of an attach or exec with `CloseWrite`, which over TLS is a
close_notify alert: the client still reads the container's output afterwards (TLS 1.3
allows this half-close, and Go's crypto/tls sends it). asyncio's SSL protocol instead
shuts the whole connection down on a close_notify, whatever the application's
`eof_received` answers ("returning true from eof_received() has no effect when using
ssl"), so `docker run` over TLS lost its output. `HalfCloseTLS` keeps the connection
open when the application asks to, as a plain transport does.

It relies on two private methods of asyncio's SSLProtocol (Python 3.11 and later,
where sslproto was rewritten): `_call_eof_received`, called on close_notify just before
`_start_shutdown`. The TLS tests run `docker run -i` through it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from asyncio import sslproto
from typing import cast

from aiohttp import web


class HalfCloseTLS(sslproto.SSLProtocol):
    """A server-side TLS protocol that honours `eof_received() -> True`."""

    _keep_open = False

    def _call_eof_received(self) -> None:
        app = cast(asyncio.Protocol, self._app_protocol)
        if self._app_state == sslproto.AppProtocolState.STATE_CON_MADE:  # type: ignore[has-type]
            self._app_state = sslproto.AppProtocolState.STATE_EOF
            try:
                self._keep_open = bool(app.eof_received())
            except Exception as exc:
                self._fatal_error(exc, "Error calling eof_received()")

    def _start_shutdown(self) -> None:
        transport = self._app_transport
        closing = transport is None or transport.is_closing()
        if self._keep_open and not closing:
            # The peer's close_notify: the application keeps writing; its close()
            # (is_closing() true then) shuts down as usual.
            self._keep_open = False
            return
        super()._start_shutdown()


class TlsSockSite(web.BaseSite):
    """aiohttp's SockSite, with each connection's TLS done by `HalfCloseTLS`."""

    __slots__ = ("_context", "_name", "_sock")

    def __init__(
        self, runner: web.BaseRunner, sock: socket.socket, context: ssl.SSLContext
    ) -> None:
        super().__init__(runner)
        self._sock = sock
        self._context = context
        host, port = sock.getsockname()[:2]
        self._name = f"https://{host}:{port}"

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.BaseProtocol:
            # No waiter: nothing awaits the handshake, aiohttp starts on the first request.
            return HalfCloseTLS(loop, server(), self._context, None, server_side=True)  # type: ignore[arg-type]

        self._server = await loop.create_server(protocol, sock=self._sock, backlog=self._backlog)
