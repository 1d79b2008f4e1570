"""/containers/{id}/exec and /exec/... endpoints."""

from __future__ import annotations

from aiohttp import web

from pier.api.hijack import Hijacked, frame, hijack
from pier.api.routing import Route, json_response, no_content, query_int, read_json
from pier.api.wire.containers import console_size
from pier.api.wire.exec import parse_exec_config, render_exec
from pier.containers.exec import ExecService
from pier.errors import InvalidParameter, PierError


def routes(execs: ExecService) -> list[Route]:
    h = _Handlers(execs)
    return [
        Route("POST", "/containers/{id}/exec", h.create),
        Route("POST", "/exec/{id}/start", h.start),
        Route("POST", "/exec/{id}/resize", h.resize),
        Route("GET", "/exec/{id}/json", h.inspect),
    ]


class _Handlers:
    def __init__(self, execs: ExecService) -> None:
        self._execs = execs

    async def create(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request, allow_empty=False)
        instance = self._execs.create(request.match_info["id"], parse_exec_config(body))
        return json_response({"Id": instance.id}, 201)

    async def start(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        exec_id = request.match_info["id"]
        self._execs.get(exec_id)  # an unknown exec is a 404, before any hijack
        tty = body.get("Tty")
        if tty is not None and not isinstance(tty, bool):
            raise InvalidParameter("json: cannot unmarshal into Go struct field Tty of type bool")
        size = console_size(body.get("ConsoleSize"))
        if body.get("Detach"):
            started = await self._execs.start(exec_id, tty=tty, console_size=size)
            started.close()
            return web.Response(status=200)
        # dockerd hijacks first and reports a failed start inside the stream (as
        # stdout), where the CLI prints it and then reads the exit code (126/127).
        upgrade = "Upgrade" in request.headers
        stream = hijack(request, upgrade=upgrade)
        try:
            try:
                started = await self._execs.start(exec_id, tty=tty, console_size=size)
            except PierError as exc:
                text = exc.message.encode() + b"\r\n"
                raw = tty if tty is not None else self._execs.get(exec_id).config.tty
                await stream.write(text if raw else frame(1, text))
                return Hijacked()
            await started.pump(stream)
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
