"""Watching and steering running containers: update, stats, top."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Protocol

from aiohttp import web

from pier.api.routing import Route, json_response, query_bool, read_json
from pier.api.wire.limits import parse_update
from pier.api.wire.stats import render_stats, render_top
from pier.containers.limits import LimitsUpdate
from pier.containers.stats import StatsFrame
from pier.containers.top import TopResult


class RunningContainers(Protocol):
    async def update(self, ref: str, change: LimitsUpdate) -> tuple[str, ...]: ...
    def stats(
        self, ref: str, *, stream: bool, one_shot: bool
    ) -> AsyncGenerator[StatsFrame, None]: ...
    async def top(self, ref: str, ps_args: str) -> TopResult: ...


def routes(containers: RunningContainers) -> list[Route]:
    async def update(request: web.Request) -> web.StreamResponse:
        body = await read_json(request, allow_empty=False)
        warnings = await containers.update(request.match_info["id"], parse_update(body))
        return json_response({"Warnings": list(warnings)})

    async def stats(request: web.Request) -> web.StreamResponse:
        stream = query_bool(request, "stream", default=True)
        frames = containers.stats(
            request.match_info["id"], stream=stream, one_shot=query_bool(request, "one-shot")
        )
        # The first frame is awaited before any header: a bad request or an unknown
        # container is still an HTTP error.
        try:
            first = await anext(frames)
            response = web.StreamResponse(status=200)
            response.content_type = "application/json"
            if stream:
                response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(json.dumps(render_stats(first)).encode() + b"\n")
            async for frame in frames:
                await response.write(json.dumps(render_stats(frame)).encode() + b"\n")
            await response.write_eof()
            return response
        finally:
            await frames.aclose()

    async def top(request: web.Request) -> web.StreamResponse:
        result = await containers.top(request.match_info["id"], request.query.get("ps_args", ""))
        return json_response(render_top(result))

    return [
        Route("POST", "/containers/{id}/update", update),
        Route("GET", "/containers/{id}/stats", stats),
        Route("GET", "/containers/{id}/top", top),
    ]
