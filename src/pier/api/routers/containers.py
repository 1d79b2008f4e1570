"""/containers/... endpoints."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from pier.api.disconnect import client_gone
from pier.api.hijack import Hijacked, HijackedClient, frame, hijack
from pier.api.routing import (
    Route,
    json_response,
    no_content,
    query_bool,
    query_filters,
    query_int,
    query_time,
    read_json,
)
from pier.api.websocket import attach_websocket
from pier.api.wire.containers import parse_create, render_inspect, render_summary
from pier.api.wire.logframes import frame_messages
from pier.api.wire.summaries import Summaries
from pier.containers.attach import AttachOptions
from pier.containers.create import CreateResult
from pier.containers.lifecycle import WaitResult
from pier.containers.logattrs import details_prefix, log_attrs
from pier.containers.logs import LogOptions, LogRecord
from pier.containers.model import Container, ContainerConfig, HostConfig
from pier.containers.query import select
from pier.containers.streams import ClientStream
from pier.errors import InvalidParameter, NoSuchImage, NotImplementedByPier
from pier.networking.model import ContainerNetworking


class _Image(Protocol):
    @property
    def id(self) -> str: ...


class ImageResolver(Protocol):
    async def resolve(self, ref: str) -> _Image: ...


class Containers(Protocol):
    """What the container endpoints need of their backend."""

    def get(self, ref: str) -> Container: ...
    def newest_first(self) -> list[Container]: ...
    def container_dir(self, cid: str) -> Path: ...
    def log_path(self, cid: str) -> Path: ...
    async def size_rw(self, container: Container) -> int: ...
    async def create(
        self, *, name: str | None, config: ContainerConfig, host_config: HostConfig
    ) -> CreateResult: ...
    async def start(self, ref: str) -> None: ...
    async def stop(self, ref: str, *, timeout: int | None, signal: str | None) -> None: ...
    async def kill(self, ref: str, *, signal: str | None) -> None: ...
    async def restart(self, ref: str, *, timeout: int | None, signal: str | None) -> None: ...
    def wait(self, ref: str, condition: str | None) -> Awaitable[WaitResult]: ...
    async def remove(self, ref: str, *, force: bool, volumes: bool) -> None: ...
    async def rename(self, ref: str, new_name: str) -> None: ...
    async def pause(self, ref: str) -> None: ...
    async def unpause(self, ref: str) -> None: ...
    async def resize(self, ref: str, height: int, width: int) -> None: ...


class _Session(Protocol):
    async def run(self, client: ClientStream) -> None: ...


class Attachments(Protocol):
    def prepare(self, container: Container, options: AttachOptions, ref: str) -> _Session: ...
    def log_batches(
        self, container: Container, options: LogOptions
    ) -> AsyncIterator[list[LogRecord]]: ...


def routes(
    containers: Containers,
    images: ImageResolver,
    attacher: Attachments,
    exec_ids: Callable[[str], list[str]] = lambda cid: [],
    *,
    network_settings: Callable[[Container], ContainerNetworking] | None = None,
) -> list[Route]:
    h = _Handlers(containers, images, attacher, exec_ids, network_settings or _no_networking)
    return [
        Route("POST", "/containers/create", h.create),
        Route("GET", "/containers/json", h.list),
        Route("GET", "/containers/{id}/json", h.inspect),
        Route("POST", "/containers/{id}/start", h.start),
        Route("POST", "/containers/{id}/stop", h.stop),
        Route("POST", "/containers/{id}/kill", h.kill),
        Route("POST", "/containers/{id}/restart", h.restart),
        Route("POST", "/containers/{id}/wait", h.wait),
        Route("DELETE", "/containers/{id}", h.remove),
        Route("POST", "/containers/{id}/rename", h.rename),
        Route("POST", "/containers/{id}/pause", h.pause),
        Route("POST", "/containers/{id}/unpause", h.unpause),
        Route("POST", "/containers/{id}/resize", h.resize),
        Route("GET", "/containers/{id}/logs", h.logs),
        Route("POST", "/containers/{id}/attach", h.attach),
        Route("GET", "/containers/{id}/attach/ws", h.attach_ws),
    ]


def _no_networking(c: Container) -> ContainerNetworking:
    return ContainerNetworking(mode=c.host_config.network_mode)


class _Handlers:
    def __init__(
        self,
        containers: Containers,
        images: ImageResolver,
        attacher: Attachments,
        exec_ids: Callable[[str], list[str]],
        network_settings: Callable[[Container], ContainerNetworking],
    ) -> None:
        self._networking = network_settings
        self._c = containers
        self._images = images
        self._attacher = attacher
        self._exec_ids = exec_ids
        self._summaries = Summaries()

    async def create(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request, allow_empty=False)
        config, host_config = parse_create(body)
        result = await self._c.create(
            name=request.query.get("name") or None, config=config, host_config=host_config
        )
        return json_response({"Id": result.id, "Warnings": list(result.warnings)}, 201)

    async def list(self, request: web.Request) -> web.StreamResponse:
        filters = query_filters(request)
        ancestors: set[str] = set()
        for ref in filters.get("ancestor", ()):
            with contextlib.suppress(NoSuchImage):
                ancestors.add(str((await self._images.resolve(ref)).id))
        before = self._c.get(filters["before"][0]) if filters.get("before") else None
        since = self._c.get(filters["since"][0]) if filters.get("since") else None
        limit = query_int(request, "limit")
        if query_bool(request, "latest"):  # API < 1.x spelling of -l
            limit = 1
        chosen = select(
            self._c.newest_first(),
            all=query_bool(request, "all"),
            limit=limit,
            filters=filters,
            ancestor_ids=ancestors,
            before=before,
            since=since,
        )
        if not query_bool(request, "size"):
            body = self._summaries.encode((c, self._networking(c)) for c in chosen)
            return web.Response(body=body, content_type="application/json")
        out = []
        for c in chosen:
            size = await self._c.size_rw(c)
            out.append(render_summary(c, self._networking(c), size_rw=size))
        return json_response(out)

    async def inspect(self, request: web.Request) -> web.StreamResponse:
        c = self._c.get(request.match_info["id"])
        size = await self._c.size_rw(c) if query_bool(request, "size") else None
        return json_response(
            render_inspect(
                c,
                self._networking(c),
                container_dir=str(self._c.container_dir(c.id)),
                log_path=str(self._c.log_path(c.id)),
                exec_ids=self._exec_ids(c.id),
                size_rw=size,
            )
        )

    async def start(self, request: web.Request) -> web.StreamResponse:
        await self._c.start(request.match_info["id"])
        return no_content()

    async def stop(self, request: web.Request) -> web.StreamResponse:
        await self._c.stop(
            request.match_info["id"],
            timeout=query_int(request, "t"),
            signal=request.query.get("signal") or None,
        )
        return no_content()

    async def kill(self, request: web.Request) -> web.StreamResponse:
        await self._c.kill(request.match_info["id"], signal=request.query.get("signal") or None)
        return no_content()

    async def restart(self, request: web.Request) -> web.StreamResponse:
        await self._c.restart(
            request.match_info["id"],
            timeout=query_int(request, "t"),
            signal=request.query.get("signal") or None,
        )
        return no_content()

    async def wait(self, request: web.Request) -> web.StreamResponse:
        pending = asyncio.ensure_future(
            self._c.wait(request.match_info["id"], request.query.get("condition"))
        )
        # The docker CLI sends wait before start and blocks until it sees the headers.
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            with client_gone(request) as lost:
                await asyncio.wait((pending, lost), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not pending.done():  # the client left: nobody to answer (as dockerd's ctx)
                pending.cancel()
        if pending.cancelled():
            raise ConnectionResetError("client went away while waiting")
        result = pending.result()
        body: dict[str, Any] = {"StatusCode": result.status_code, "Error": None}
        if result.error:
            body["Error"] = {"Message": result.error}
        await response.write(json_response(body).body)  # type: ignore[arg-type]
        await response.write_eof()
        return response

    async def remove(self, request: web.Request) -> web.StreamResponse:
        await self._c.remove(
            request.match_info["id"],
            force=query_bool(request, "force"),
            volumes=query_bool(request, "v"),
        )
        return no_content()

    async def rename(self, request: web.Request) -> web.StreamResponse:
        await self._c.rename(request.match_info["id"], request.query.get("name", ""))
        return no_content()

    async def pause(self, request: web.Request) -> web.StreamResponse:
        await self._c.pause(request.match_info["id"])
        return no_content()

    async def unpause(self, request: web.Request) -> web.StreamResponse:
        await self._c.unpause(request.match_info["id"])
        return no_content()

    async def resize(self, request: web.Request) -> web.StreamResponse:
        height = query_int(request, "h", 0) or 0
        width = query_int(request, "w", 0) or 0
        await self._c.resize(request.match_info["id"], height, width)
        return no_content(200)

    async def logs(self, request: web.Request) -> web.StreamResponse:
        c = self._c.get(request.match_info["id"])
        if c.host_config.log_type == "none":
            raise NotImplementedByPier("configured logging driver does not support reading")
        stdout = query_bool(request, "stdout")
        stderr = query_bool(request, "stderr")
        if not (stdout or stderr):
            raise InvalidParameter("Bad parameters: you must choose at least one stream")
        tail_text = request.query.get("tail", "all")
        tail: int | None = None
        if tail_text not in ("", "all"):
            try:
                tail = max(int(tail_text), 0)
            except ValueError:
                tail = None
        options = LogOptions(
            stdout=stdout,
            stderr=stderr,
            follow=query_bool(request, "follow"),
            timestamps=query_bool(request, "timestamps"),
            since_ns=query_time(request, "since"),
            until_ns=query_time(request, "until"),
            tail=tail,
            details=query_bool(request, "details"),
        )
        response = web.StreamResponse(status=200)
        tty = c.config.tty
        response.content_type = (
            "application/vnd.docker.raw-stream"
            if tty
            else "application/vnd.docker.multiplexed-stream"
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        stamp = options.timestamps
        attrs = details_prefix(log_attrs(c)) if options.details else b""
        async for batch in self._attacher.log_batches(c, options):
            # One write per batch: a write per line costs more than the parsing.
            payloads = (
                (r.time.encode() + b" " + attrs + r.data if stamp else attrs + r.data, r)
                for r in batch
            )
            await response.write(
                b"".join(
                    p if tty else frame_messages(r.stream, p) if r.many else frame(r.stream, p)
                    for p, r in payloads
                )
            )
        await response.write_eof()
        return response

    async def attach(self, request: web.Request) -> web.StreamResponse:
        c = self._c.get(request.match_info["id"])
        options = AttachOptions(
            stream=query_bool(request, "stream"),
            logs=query_bool(request, "logs"),
            stdin=query_bool(request, "stdin"),
            stdout=query_bool(request, "stdout"),
            stderr=query_bool(request, "stderr"),
            detach_keys=request.query.get("detachKeys"),
        )
        upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
        session = self._attacher.prepare(c, options, request.match_info["id"])
        stream = hijack(request, upgrade=upgrade)
        try:
            await session.run(HijackedClient(stream, raw=c.config.tty))
        finally:
            stream.close()
        return Hijacked()

    async def attach_ws(self, request: web.Request) -> web.StreamResponse:
        # An unknown container is a 404 before the upgrade, as in Docker.
        c = self._c.get(request.match_info["id"])
        return await attach_websocket(request, c, self._attacher)
