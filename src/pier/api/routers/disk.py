"""`GET /system/df` and the prunes of containers and images (`/containers/prune`,
`/images/prune`); volumes and networks prune in their own routers."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web

from pier import timefmt
from pier.api.routing import Route, api_version, json_response, query_filters
from pier.api.wire import images as image_wire
from pier.api.wire.container_json import render_summary
from pier.api.wire.volumes import render_volume
from pier.build.instructions import duration_ns
from pier.containers.model import Container, Status
from pier.errors import Conflict, InvalidParameter, PierError
from pier.images.model import ImageRecord
from pier.networking.model import ContainerNetworking
from pier.volumes.model import Volume

_DF_TYPES = ("container", "image", "volume", "build-cache")


class Containers(Protocol):
    def newest_first(self) -> builtins.list[Container]: ...
    async def size_rw(self, container: Container) -> int: ...
    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None: ...


class Images(Protocol):
    async def list(
        self, *, all: bool = False, filters: Mapping[str, Sequence[str]] | None = None
    ) -> builtins.list[ImageRecord]: ...
    async def remove(
        self, ref: str, *, force: bool = False, noprune: bool = False
    ) -> builtins.list[dict[str, str]]: ...


class Volumes(Protocol):
    def list(self) -> builtins.list[Volume]: ...
    def users(self, name: str) -> builtins.list[str]: ...
    def mountpoint(self, name: str) -> Any: ...
    async def usage(self, name: str) -> int: ...


def _labels(labels: Mapping[str, str], filters: Mapping[str, list[str]]) -> bool:
    def has(item: str) -> bool:
        key, eq, value = item.partition("=")
        return key in labels and (not eq or labels[key] == value)

    return all(has(i) for i in filters.get("label", [])) and not any(
        has(i) for i in filters.get("label!", [])
    )


def _until(filters: Mapping[str, list[str]]) -> int | None:
    values = filters.get("until", [])
    if not values:
        return None
    # moby's timetypes.GetTimestamp: a Go duration ("1h", what `--filter until=1h`
    # sends as is) counts back from now
    try:
        ago = duration_ns(values[0]) if values[0] != "0" else None
    except InvalidParameter:
        ago = None
    if ago is not None:
        return time.time_ns() - ago
    try:
        return timefmt.parse_api_time(values[0])
    except ValueError:
        raise InvalidParameter(f"invalid filter 'until={values[0]}'") from None


def _check(filters: Mapping[str, list[str]], allowed: Sequence[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise InvalidParameter(f"invalid filter '{key}'")


def routes(
    containers: Containers,
    images: Images,
    volumes: Volumes,
    networking: Callable[[Container], ContainerNetworking],
) -> list[Route]:
    async def prune_containers(request: web.Request) -> web.StreamResponse:
        filters = query_filters(request)
        _check(filters, ("until", "label", "label!"))
        until = _until(filters)
        deleted, reclaimed = [], 0
        for c in containers.newest_first():
            if c.state.status not in (Status.EXITED, Status.CREATED, Status.DEAD):
                continue
            if not _labels(c.config.labels, filters):
                continue
            if until is not None and timefmt.parse_ns(c.created) >= until:
                continue
            size = await containers.size_rw(c)
            try:
                await containers.remove(c.id)
            except PierError:
                continue
            deleted.append(c.id)
            reclaimed += size
        return json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed})

    async def prune_images(request: web.Request) -> web.StreamResponse:
        filters = query_filters(request)
        _check(filters, ("dangling", "until", "label", "label!"))
        dangling_only = filters.get("dangling", ["true"])[0].lower() in ("1", "true")
        until = _until(filters)
        used = {c.image_id for c in containers.newest_first()}
        deleted: list[dict[str, str]] = []
        reclaimed = 0
        for rec in await images.list(all=True):
            if rec.id in used or (dangling_only and rec.repo_tags):
                continue
            if not _labels(rec.config.labels, filters):
                continue
            if until is not None and timefmt.parse_ns(rec.created) >= until:
                continue
            try:
                records = await images.remove(rec.id, force=bool(rec.repo_tags))
            except (Conflict, PierError):
                continue  # a child image or a container took it meanwhile
            deleted.extend(records)
            reclaimed += rec.size
        return json_response({"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed})

    async def df(request: web.Request) -> web.StreamResponse:
        wanted = request.query.getall("type", []) or list(_DF_TYPES)
        for kind in wanted:
            if kind not in _DF_TYPES:
                raise InvalidParameter(f"unknown object type: {kind}")
        out: dict[str, Any] = {}
        all_containers = containers.newest_first()
        if "image" in wanted:
            records = await images.list(all=False)
            users: dict[str, int] = {}
            for c in all_containers:
                users[c.image_id] = users.get(c.image_id, 0) + 1
            rendered = []
            for rec in records:
                item = image_wire.image_summary(rec, api_version=api_version(request))
                item["Containers"] = users.get(rec.id, 0)
                item["SharedSize"] = 0
                rendered.append(item)
            out["LayersSize"] = sum(r.size for r in records)
            out["Images"] = rendered
        if "container" in wanted:
            rows = []
            for c in all_containers:
                size = await containers.size_rw(c)
                rows.append(render_summary(c, networking(c), size_rw=size))
            out["Containers"] = rows
        if "volume" in wanted:
            rows = []
            for v in volumes.list():
                usage = (await volumes.usage(v.name), len(volumes.users(v.name)))
                rows.append(render_volume(v, str(volumes.mountpoint(v.name)), usage))
            out["Volumes"] = rows
        if "build-cache" in wanted:
            out["BuildCache"] = []
        return json_response(out)

    return [
        Route("POST", "/containers/prune", prune_containers),
        Route("POST", "/images/prune", prune_images),
        Route("GET", "/system/df", df),
    ]
