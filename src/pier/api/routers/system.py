"""/_ping, /version, /info, /events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

from aiohttp import web

from pier import API_VERSION
from pier.api.routing import Route, json_response, query_filters, query_time
from pier.api.wire.system import render_info, render_version
from pier.events import Event
from pier.system import InfoFacts, VersionFacts


class System(Protocol):
    def version(self) -> VersionFacts: ...
    async def info(self) -> InfoFacts: ...


class EventSource(Protocol):
    def subscribe(
        self, *, since_nano: int | None = None, until_nano: int | None = None
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
                "Swarm": "inactive",
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
        filters = query_filters(request)
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        await response.prepare(request)
        async for event in events.subscribe(since_nano=since, until_nano=until):
            if _matches(event, filters):
                await response.write(json.dumps(_render(event)).encode() + b"\n")
        await response.write_eof()
        return response

    return [
        Route("GET", "/_ping", ping),
        Route("HEAD", "/_ping", ping),
        Route("GET", "/version", version),
        Route("GET", "/info", info),
        Route("GET", "/events", stream_events),
    ]


def _matches(event: Event, filters: dict[str, list[str]]) -> bool:
    if filters.get("type") and event.type not in filters["type"]:
        return False
    if filters.get("event") and event.action not in filters["event"]:
        return False
    wanted = filters.get("container")
    if (
        wanted
        and event.type == "container"
        and not any(
            event.actor_id.startswith(w) or event.attributes.get("name") == w for w in wanted
        )
    ):
        return False
    return True


def _render(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Type": event.type,
        "Action": event.action,
        "Actor": {"ID": event.actor_id, "Attributes": dict(event.attributes)},
        "scope": "local",
        "time": event.time_nano // 1_000_000_000,
        "timeNano": event.time_nano,
    }
    if event.type == "container":
        out["status"] = event.action
        out["id"] = event.actor_id
        out["from"] = event.attributes.get("image", "")
    return out
