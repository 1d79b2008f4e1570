"""/containers/{id}/exec and /exec/... endpoints."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from pier.api.hijack import Hijacked, HijackedClient, hijack
from pier.api.routing import Route, json_response, no_content, query_int, read_json
from pier.api.wire import gojson
from pier.api.wire.containers import console_size
from pier.api.wire.exec import START, parse_exec_config, render_exec
from pier.containers.exec import ExecConfig, ExecInstance
from pier.containers.streams import STDOUT, ClientStream
from pier.errors import PierError


class StartedExec(Protocol):
    async def pump(self, client: ClientStream) -> None:
        """Join the process's stdio to the client until it ends or leaves."""
        ...

    def close(self) -> None: ...


class ExecBackend(Protocol):
    def create(self, ref: str, config: ExecConfig) -> ExecInstance: ...

    def get(self, exec_id: str) -> ExecInstance: ...

    async def start(
        self, exec_id: str, *, console_size: tuple[int, int] | None = None
    ) -> StartedExec: ...

    async def resize(self, exec_id: str, height: int, width: int) -> None: ...


def routes(execs: ExecBackend) -> list[Route]:
    h = _Handlers(execs)
    return [
        Route("POST", "/containers/{id}/exec", h.create),
        Route("POST", "/exec/{id}/start", h.start),
        Route("POST", "/exec/{id}/resize", h.resize),
        Route("GET", "/exec/{id}/json", h.inspect),
    ]


class _Handlers:
    def __init__(self, execs: ExecBackend) -> None:
        self._execs = execs

    async def create(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request, allow_empty=False)
        instance = self._execs.create(request.match_info["id"], parse_exec_config(body))
        return json_response({"Id": instance.id}, 201)

    async def start(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        exec_id = request.match_info["id"]
        instance = self._execs.get(exec_id)  # an unknown exec is a 404, before any hijack
        tty = body.get("Tty")
        if tty is not None:  # absent: the exec's own Tty
            gojson.boolean(tty, f"{START}.Tty")
        size = console_size(body.get("ConsoleSize"), f"{START}.ConsoleSize")
        if gojson.boolean(body.get("Detach"), f"{START}.Detach"):
            started = await self._execs.start(exec_id, console_size=size)
            started.close()
            return web.Response(status=200)
        # The stream's shape follows the start request's Tty, as dockerd's does (the
        # process's terminal is the exec's own).
        raw = instance.config.tty if tty is None else tty
        stream = hijack(request, upgrade="Upgrade" in request.headers)
        client = HijackedClient(stream, raw=raw)
        try:
            try:
                started = await self._execs.start(exec_id, console_size=size)
            except PierError as exc:
                # dockerd hijacks first and reports a failed start inside the stream
                # (as stdout), where the CLI prints it and then reads the exit code.
                await client.send([(STDOUT, exc.message.encode() + b"\r\n")])
                return Hijacked()
            await started.pump(client)
        finally:
            stream.close()
        return Hijacked()

    async def resize(self, request: web.Request) -> web.StreamResponse:
        height = query_int(request, "h", 0) or 0
        width = query_int(request, "w", 0) or 0
        await self._execs.resize(request.match_info["id"], height, width)
        return no_content(200)

    async def inspect(self, request: web.Request) -> web.StreamResponse:
        return json_response(render_exec(self._execs.get(request.match_info["id"])))
