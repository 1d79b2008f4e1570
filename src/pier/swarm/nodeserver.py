"""The cluster port of a node (ListenAddr, 2377 by default): where a joining node
asks a manager to let it in, and where other nodes read this node's task logs.

It speaks plain HTTP with JSON; a join is only accepted with a valid token.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from pier.errors import PierError, SystemFailure
from pier.swarm.logresponse import send_log_stream

log = logging.getLogger(__name__)

JoinHandler = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
LogSource = Callable[[str, Mapping[str, str]], AsyncIterator[bytes]]


class NodeServer:
    def __init__(self, *, join: JoinHandler, logs: LogSource) -> None:
        self._join = join
        self._logs = logs
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_post("/join", self._on_join)
        app.router.add_get("/tasks/{id}/logs", self._on_logs)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host or "0.0.0.0", port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise SystemFailure(
                f"failed to listen on remote API address: listen tcp {host}:{port}: bind: {reason}"
            ) from exc
        self._runner = runner

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _on_join(self, request: web.Request) -> web.StreamResponse:
        try:
            answer = await self._join(await request.json())
        except PierError as exc:
            return _refusal(exc)
        return web.json_response(answer)

    async def _on_logs(self, request: web.Request) -> web.StreamResponse:
        try:
            stream = self._logs(request.match_info["id"], request.query)
        except PierError as exc:
            return _refusal(exc)
        return await send_log_stream(request, stream, refuse=_refusal)


def _refusal(exc: PierError) -> web.StreamResponse:
    return web.json_response({"message": exc.message}, status=exc.status)
