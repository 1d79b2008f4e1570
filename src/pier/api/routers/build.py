"""/build, /build/prune, /commit and /containers/{id}/changes. Thin: read the request,
make one service call, write Docker's JSON.

`POST /build` answers as moby's legacy builder route: nothing is written until the
build says something, so a failure before that (a bad parameter, an unknown
Dockerfile instruction) is an ordinary error response with its status; afterwards
progress is `{"stream": ...}` lines, `{"aux": {"ID": ...}}` for each stage's image,
and a failure is the last line (`errorDetail`, with the command's exit code for a
failed RUN). With `q` the output is held back and only the image ID is sent (or, on
failure, everything held back and then the error).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from pier.api.routing import Route, json_response, query_bool, query_int, read_json
from pier.api.wire import build as wire
from pier.build.commit import CommitRequest
from pier.build.model import BuildRequest, BuildResult, PruneReport
from pier.build.output import BuildOutput
from pier.containers.model import Ulimit
from pier.errors import CommandFailed, InvalidParameter, PierError, SystemFailure
from pier.images.diff import Change
from pier.oci import reference as refs

_CHUNK = 1 << 20
log = logging.getLogger(__name__)


class BuildBackend(Protocol):
    @property
    def tmp_dir(self) -> Path: ...

    async def build(
        self, request: BuildRequest, archive: Path | None, out: BuildOutput
    ) -> BuildResult: ...

    async def prune(self) -> PruneReport: ...


class CommitBackend(Protocol):
    async def commit(self, req: CommitRequest) -> str: ...

    async def changes(self, ref: str) -> builtins.list[Change]: ...


def routes(builder: BuildBackend, committer: CommitBackend) -> list[Route]:
    async def build(request: web.Request) -> web.StreamResponse:
        options = parse_build_query(request)
        archive: Path | None = None
        if not options.remote:
            fd, name = tempfile.mkstemp(prefix="context-", suffix=".tar", dir=builder.tmp_dir)
            archive = Path(name)
        try:
            if archive is not None:
                with os.fdopen(fd, "wb") as out:
                    async for chunk in request.content.iter_chunked(_CHUNK):
                        out.write(chunk)
            stream = _Stream(request, quiet=options.quiet)
            try:
                result = await builder.build(options, archive, stream)
            except PierError as exc:
                return await stream.fail(exc)
            except (ConnectionError, asyncio.CancelledError):
                raise
            except Exception as exc:
                # Once the stream started, a failure can only be its last line.
                log.exception("build failed")
                return await stream.fail(SystemFailure(f"build failed: {exc}"))
            return await stream.done(result.image_id)
        finally:
            if archive is not None:
                with contextlib.suppress(FileNotFoundError):
                    archive.unlink()

    async def prune(request: web.Request) -> web.StreamResponse:
        report = await builder.prune()
        return json_response(wire.prune_report(report))

    async def commit(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        image_id = await committer.commit(
            CommitRequest(
                container=request.query.get("container", ""),
                repo=request.query.get("repo", ""),
                tag=request.query.get("tag", ""),
                author=request.query.get("author", ""),
                comment=request.query.get("comment", ""),
                pause=query_bool(request, "pause", default=True),
                changes=tuple(request.query.getall("changes", [])),
                config=body or None,
            )
        )
        return json_response({"Id": image_id}, status=201)

    async def changes(request: web.Request) -> web.StreamResponse:
        items = await committer.changes(request.match_info["name"])
        return json_response(wire.changes(items) if items else None)

    return [
        Route("POST", "/build", build),
        Route("POST", "/build/prune", prune),
        Route("POST", "/commit", commit),
        Route("GET", "/containers/{name}/changes", changes),
    ]


class _Stream:
    """The build's output as moby's JSON messages, started on the first one."""

    def __init__(self, request: web.Request, *, quiet: bool) -> None:
        self._request = request
        self._quiet = quiet
        self._held: list[bytes] = []
        self._response: web.StreamResponse | None = None

    async def _write(self, data: bytes) -> None:
        if self._response is None:
            self._response = web.StreamResponse(status=200)
            self._response.content_type = "application/json"
            await self._response.prepare(self._request)
        await self._response.write(data)

    async def stream(self, text: str) -> None:
        data = wire.stream_line(text)
        if self._quiet:
            self._held.append(data)
        else:
            await self._write(data)

    async def aux(self, value: Mapping[str, Any]) -> None:
        if not self._quiet:
            await self._write(wire.aux_line(value))

    async def fail(self, exc: PierError) -> web.StreamResponse:
        if self._quiet and self._held:
            for data in self._held:
                await self._write(data)
        if self._response is None:
            raise exc
        code = exc.code if isinstance(exc, CommandFailed) else 0
        await self._write(wire.error_line(exc.message, code))
        await self._response.write_eof()
        return self._response

    async def done(self, image_id: str) -> web.StreamResponse:
        if self._quiet:
            await self._write(wire.stream_line(image_id + "\n"))
        assert self._response is not None
        await self._response.write_eof()
        return self._response


def parse_build_query(request: web.Request) -> BuildRequest:
    q = request.query
    version = q.get("version", "")
    if version and version not in ("1", "2"):
        raise InvalidParameter(f'invalid version "{version}"')
    if version == "2":
        raise InvalidParameter(
            "BuildKit (builder version 2) is not supported: use the classic builder "
            "(DOCKER_BUILDKIT=0)"
        )
    if query_bool(request, "squash"):
        raise InvalidParameter("squash is only supported with experimental mode")
    if q.get("securityopt"):
        raise InvalidParameter("security options are not supported on linux")
    if q.get("outputs"):
        raise InvalidParameter("outputs are only supported by BuildKit")
    force_remove = query_bool(request, "forcerm")
    remove = True if force_remove or q.get("rm", "") == "" else query_bool(request, "rm")
    return BuildRequest(
        dockerfile=q.get("dockerfile", "") or "Dockerfile",
        tags=_tags(q.getall("t", [])),
        quiet=query_bool(request, "q"),
        no_cache=query_bool(request, "nocache"),
        remove=remove,
        force_remove=force_remove,
        pull=query_bool(request, "pull"),
        build_args=_json_map(q.get("buildargs"), "error reading build args"),
        labels={k: v or "" for k, v in _json_map(q.get("labels"), "error reading labels").items()},
        cache_from=tuple(_json_list(q.get("cachefrom"), "error reading cache-from")),
        target=q.get("target", ""),
        network_mode=q.get("networkmode", ""),
        platform=q.get("platform", ""),
        shm_size=query_int(request, "shmsize", 0) or 0,
        memory=query_int(request, "memory", 0) or 0,
        memory_swap=query_int(request, "memswap", 0) or 0,
        cpu_shares=query_int(request, "cpushares", 0) or 0,
        cpu_period=query_int(request, "cpuperiod", 0) or 0,
        cpu_quota=query_int(request, "cpuquota", 0) or 0,
        cpuset_cpus=q.get("cpusetcpus", ""),
        extra_hosts=tuple(h for h in q.getall("extrahosts", []) if h),
        ulimits=_ulimits(q.get("ulimits")),
        remote=q.get("remote", ""),
    )


def _tags(values: Sequence[str]) -> tuple[refs.Reference, ...]:
    out: list[refs.Reference] = []
    for value in values:
        if not value:
            continue
        ref = refs.parse_normalized(value)
        if ref.digest:
            raise InvalidParameter("build tag cannot contain a digest")
        ref = ref.with_default_tag()
        if ref not in out:
            out.append(ref)
    return tuple(out)


def _json(raw: str | None, what: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidParameter(f"{what}: {exc}") from None


def _json_map(raw: str | None, what: str) -> dict[str, str | None]:
    value = _json(raw, what)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(f"{what}: not an object")
    return {str(k): None if v is None else str(v) for k, v in value.items()}


def _json_list(raw: str | None, what: str) -> list[str]:
    value = _json(raw, what)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidParameter(f"{what}: not a list")
    return [str(v) for v in value]


def _ulimits(raw: str | None) -> tuple[Ulimit, ...]:
    value = _json(raw, "error reading ulimit settings")
    if not value:
        return ()
    try:
        return tuple(
            Ulimit(name=u["Name"], soft=int(u["Soft"]), hard=int(u["Hard"])) for u in value
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidParameter(f"error reading ulimit settings: {exc}") from None
