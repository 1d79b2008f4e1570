"""/volumes endpoints: list, create, inspect, remove, prune."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from pier.api.routing import (
    Route,
    json_response,
    no_content,
    query_bool,
    query_filters,
    read_json,
)
from pier.api.wire.volumes import parse_create, render_volume
from pier.errors import InvalidParameter, Unavailable
from pier.volumes.model import NewVolume, Volume
from pier.volumes.service import Pruned

_LIST_FILTERS = ("dangling", "driver", "label", "name")


class Volumes(Protocol):
    def get(self, name: str) -> Volume: ...
    def list(self) -> builtins.list[Volume]: ...
    def mountpoint(self, name: str) -> Path: ...
    def users(self, name: str) -> builtins.list[str]: ...
    async def create(self, request: NewVolume) -> Volume: ...
    async def remove(self, name: str, *, force: bool = False) -> None: ...
    async def prune(self, filters: Mapping[str, builtins.list[str]]) -> Pruned: ...


def routes(volumes: Volumes) -> list[Route]:
    def render(v: Volume) -> dict[str, Any]:
        return render_volume(v, str(volumes.mountpoint(v.name)))

    async def list_(request: web.Request) -> web.StreamResponse:
        filters = query_filters(request)
        for key in filters:
            if key not in _LIST_FILTERS:
                raise InvalidParameter(f"invalid filter '{key}'")
        found = [
            v for v in volumes.list() if matches(v, filters, in_use=bool(volumes.users(v.name)))
        ]
        return json_response({"Volumes": [render(v) for v in found], "Warnings": None})

    async def create(request: web.Request) -> web.StreamResponse:
        volume = await volumes.create(parse_create(await read_json(request)))
        return json_response(render(volume), status=201)

    async def inspect(request: web.Request) -> web.StreamResponse:
        return json_response(render(volumes.get(request.match_info["name"])))

    async def update(request: web.Request) -> web.StreamResponse:
        raise Unavailable(
            'This node is not a swarm manager. Use "docker swarm init" or "docker swarm '
            'join" to connect this node to swarm and try again.'
        )

    async def remove(request: web.Request) -> web.StreamResponse:
        await volumes.remove(request.match_info["name"], force=query_bool(request, "force"))
        return no_content()

    async def prune(request: web.Request) -> web.StreamResponse:
        pruned = await volumes.prune(query_filters(request))
        return json_response(
            {"VolumesDeleted": list(pruned.names) or None, "SpaceReclaimed": pruned.reclaimed}
        )

    return [
        Route("GET", "/volumes", list_),
        Route("POST", "/volumes/create", create),
        Route("POST", "/volumes/prune", prune),
        Route("GET", "/volumes/{name}", inspect),
        Route("PUT", "/volumes/{name}", update),
        Route("DELETE", "/volumes/{name}", remove),
    ]


def _labels(v: Volume, wanted: Sequence[str]) -> bool:
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in v.labels or (eq and v.labels[key] != value):
            return False
    return True


def matches(v: Volume, filters: Mapping[str, list[str]], *, in_use: bool) -> bool:
    """moby's volume list filters."""
    for key, values in filters.items():
        if not values:
            continue
        if key == "name" and not any(x in v.name for x in values):
            return False
        if key == "driver" and v.driver not in values:
            return False
        if key == "label" and not _labels(v, values):
            return False
        if key == "dangling":
            if values[0].lower() not in ("1", "true", "0", "false"):
                raise InvalidParameter(f"invalid filter 'dangling={values[0]}'")
            if (values[0].lower() in ("1", "true")) == in_use:
                return False
    return True
