"""/swarm, /nodes, /services, /tasks (and /secrets, /configs, which Pier refuses).

Handlers read Docker's request, make one call on the swarm service and write its
answer; the service says, in moby's words, when this node is in no swarm (503) or is
not a manager (503). docker-py tears a test session down with `POST /swarm/leave` and
accepts only that 503 when the node is in no swarm.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web

from pier.api.routing import Route, json_response, query_bool, query_filters, read_json
from pier.errors import InvalidParameter, NotFound
from pier.swarm.logresponse import send_log_stream


class Swarm(Protocol):
    async def init(self, req: Mapping[str, Any]) -> str: ...
    async def join(self, req: Mapping[str, Any]) -> None: ...
    async def leave(self, *, force: bool) -> None: ...
    async def inspect(self) -> dict[str, Any]: ...
    async def update(self, spec: Mapping[str, Any], **kwargs: Any) -> None: ...
    def unlock_key(self) -> None: ...
    def unlock(self) -> None: ...
    def refuse(self, what: str) -> None: ...
    def check_manager(self) -> None: ...


class SwarmObjects(Protocol):
    async def nodes(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]: ...
    async def node(self, ref: str) -> dict[str, Any]: ...
    async def update_node(self, ref: str, *, version: int, spec: Mapping[str, Any]) -> None: ...
    async def remove_node(self, ref: str, *, force: bool) -> None: ...
    async def create_service(self, spec: Mapping[str, Any]) -> str: ...
    async def services(
        self, filters: Mapping[str, Sequence[str]], *, status: bool
    ) -> list[dict[str, Any]]: ...
    async def service(self, ref: str, *, insert_defaults: bool) -> dict[str, Any]: ...
    async def update_service(
        self, ref: str, *, version: int, spec: Mapping[str, Any], rollback: bool
    ) -> list[str]: ...
    async def remove_service(self, ref: str) -> None: ...
    async def tasks(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]: ...
    async def task(self, ref: str) -> dict[str, Any]: ...
    def logs(self, kind: str, ref: str, options: Mapping[str, str]) -> AsyncIterator[bytes]: ...


def _version(request: web.Request, what: str) -> int:
    raw = request.query.get("version", "")
    try:
        value = int(raw)
        if value < 0:
            raise ValueError
    except ValueError:
        raise InvalidParameter(
            f"invalid {what} version '{raw}': strconv.ParseUint: parsing {raw!r}: invalid syntax"
        ) from None
    return value


def _ok() -> web.Response:
    return web.Response(status=200)


def routes(swarm: Swarm, objects: SwarmObjects) -> list[Route]:
    async def init(request: web.Request) -> web.StreamResponse:
        return json_response(await swarm.init(await read_json(request)))

    async def join(request: web.Request) -> web.StreamResponse:
        await swarm.join(await read_json(request))
        return _ok()

    async def leave(request: web.Request) -> web.StreamResponse:
        await swarm.leave(force=query_bool(request, "force"))
        return _ok()

    async def inspect(request: web.Request) -> web.StreamResponse:
        return json_response(await swarm.inspect())

    async def update(request: web.Request) -> web.StreamResponse:
        swarm.check_manager()  # 503 off a manager comes before a bad version
        version = _version(request, "swarm")
        await swarm.update(
            await read_json(request),
            version=version,
            rotate_worker=query_bool(request, "rotateWorkerToken"),
            rotate_manager=query_bool(request, "rotateManagerToken"),
            rotate_unlock=query_bool(request, "rotateManagerUnlockKey"),
        )
        return _ok()

    async def unlock_key(request: web.Request) -> web.StreamResponse:
        swarm.unlock_key()
        return _ok()

    async def unlock(request: web.Request) -> web.StreamResponse:
        swarm.unlock()
        return _ok()

    async def nodes(request: web.Request) -> web.StreamResponse:
        return json_response(await objects.nodes(query_filters(request)))

    async def node(request: web.Request) -> web.StreamResponse:
        return json_response(await objects.node(request.match_info["id"]))

    async def update_node(request: web.Request) -> web.StreamResponse:
        swarm.check_manager()  # 503 off a manager comes before a bad version
        version = _version(request, "node")
        await objects.update_node(
            request.match_info["id"], version=version, spec=await read_json(request)
        )
        return _ok()

    async def remove_node(request: web.Request) -> web.StreamResponse:
        await objects.remove_node(request.match_info["id"], force=query_bool(request, "force"))
        return _ok()

    async def create_service(request: web.Request) -> web.StreamResponse:
        swarm.check_manager()
        sid = await objects.create_service(await read_json(request, allow_empty=False))
        return json_response({"ID": sid, "Warnings": None}, 201)

    async def services(request: web.Request) -> web.StreamResponse:
        return json_response(
            await objects.services(query_filters(request), status=query_bool(request, "status"))
        )

    async def service(request: web.Request) -> web.StreamResponse:
        return json_response(
            await objects.service(
                request.match_info["id"], insert_defaults=query_bool(request, "insertDefaults")
            )
        )

    async def update_service(request: web.Request) -> web.StreamResponse:
        swarm.check_manager()  # 503 off a manager comes before a bad version
        version = _version(request, "service")
        rollback = request.query.get("rollback", "")
        if rollback not in ("", "previous"):
            raise InvalidParameter(f"unrecognized rollback option {rollback}")
        warnings = await objects.update_service(
            request.match_info["id"],
            version=version,
            spec=await read_json(request),
            rollback=rollback == "previous",
        )
        return json_response({"Warnings": warnings or None})

    async def remove_service(request: web.Request) -> web.StreamResponse:
        await objects.remove_service(request.match_info["id"])
        return _ok()

    async def tasks(request: web.Request) -> web.StreamResponse:
        return json_response(await objects.tasks(query_filters(request)))

    async def task(request: web.Request) -> web.StreamResponse:
        return json_response(await objects.task(request.match_info["id"]))

    def logs(kind: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            stream = objects.logs(kind, request.match_info["id"], request.query)
            return await send_log_stream(
                request, stream, content_type="application/vnd.docker.multiplexed-stream"
            )

        return handler

    def refused(what: str, kind: str) -> list[Route]:
        async def listing(request: web.Request) -> web.StreamResponse:
            swarm.check_manager()  # none exist: Pier refuses to make them
            return json_response([])

        async def missing(request: web.Request) -> web.StreamResponse:
            swarm.check_manager()
            raise NotFound(f"{kind} {request.match_info['id']} not found")

        async def create(request: web.Request) -> web.StreamResponse:
            swarm.refuse(what)
            return _ok()

        return [
            Route("GET", f"/{kind}s", listing),
            Route("POST", f"/{kind}s/create", create),
            Route("GET", f"/{kind}s/{{id}}", missing),
            Route("DELETE", f"/{kind}s/{{id}}", missing),
            Route("POST", f"/{kind}s/{{id}}/update", missing),
        ]

    return [
        Route("GET", "/swarm", inspect),
        Route("POST", "/swarm/init", init),
        Route("POST", "/swarm/join", join),
        Route("POST", "/swarm/leave", leave),
        Route("POST", "/swarm/update", update),
        Route("GET", "/swarm/unlockkey", unlock_key),
        Route("POST", "/swarm/unlock", unlock),
        Route("GET", "/nodes", nodes),
        Route("GET", "/nodes/{id}", node),
        Route("POST", "/nodes/{id}/update", update_node),
        Route("DELETE", "/nodes/{id}", remove_node),
        Route("POST", "/services/create", create_service),
        Route("GET", "/services", services),
        Route("GET", "/services/{id}", service),
        Route("POST", "/services/{id}/update", update_service),
        Route("DELETE", "/services/{id}", remove_service),
        Route("GET", "/services/{id}/logs", logs("service")),
        Route("GET", "/tasks", tasks),
        Route("GET", "/tasks/{id}", task),
        Route("GET", "/tasks/{id}/logs", logs("task")),
        *refused("secrets", "secret"),
        *refused("configs", "config"),
    ]
