"""/_ping, /version, /info, /events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Protocol

from aiohttp import web

from pier import API_VERSION
from pier.api.routing import Route, json_response, query_filters, query_time
from pier.api.wire.events import render_event
from pier.api.wire.system import render_info, render_version
from pier.errors import InvalidParameter
from pier.events import Event, EventFilter
from pier.system import InfoFacts, VersionFacts


class System(Protocol):
    def version(self) -> VersionFacts: ...
    async def info(self) -> InfoFacts: ...
    def swarm_status(self) -> str: ...


class EventSource(Protocol):
    def subscribe(
        self,
        *,
        since_nano: int | None = None,
        until_nano: int | None = None,
        filter: EventFilter | None = None,
    ) -> AsyncIterator[Event]: ...


def routes(system: System, events: EventSource) -> list[Route]:
    async def ping(request: web.Request) -> web.StreamResponse:
        response = web.Response(
            text="" if request.method == "HEAD" else "OK", content_type="text/plain"
        )
        response.headers.update(
            {
                "Api-Version": API_VERSION,
                "Builder-Version": "1",
                "Docker-Experimental": "false",
                "Swarm": system.swarm_status(),
                "Cache-Control": "no-cache, no-store, must-revalidate",
                "Pragma": "no-cache",
            }
        )
        return response

    async def version(request: web.Request) -> web.StreamResponse:
        return json_response(render_version(system.version()))

    async def info(request: web.Request) -> web.StreamResponse:
        return json_response(render_info(await system.info()))

    async def stream_events(request: web.Request) -> web.StreamResponse:
        since = query_time(request, "since")
        until = query_time(request, "until")
        if until is not None and since is not None and until < since:
            raise InvalidParameter(
                f"`since` time ({request.query.get('since')}) cannot be after "
                f"`until` time ({request.query.get('until')})"
            )
        wanted = EventFilter(query_filters(request))
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        await response.prepare(request)
        stream = events.subscribe(since_nano=since, until_nano=until, filter=wanted)
        async for event in stream:
            await response.write(json.dumps(render_event(event)).encode() + b"\n")
        await response.write_eof()
        return response

    return [
        Route("GET", "/_ping", ping),
        Route("HEAD", "/_ping", ping),
        Route("GET", "/version", version),
        Route("GET", "/info", info),
        Route("GET", "/events", stream_events),
    ]
