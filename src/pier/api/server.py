"""The Engine API server: versions, Docker's headers and the error -> status mapping.

Routers describe endpoints (`pier.api.routing.Route`); this module mounts each one
unversioned and under `/v{version}`, and is the ONE place where a PierError becomes
an HTTP status and Docker's `{"message": ...}` body.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from aiohttp import web

from pier import API_VERSION, MIN_API_VERSION, __version__
from pier.api.routing import Route, json_response
from pier.errors import InvalidParameter, PierError

log = logging.getLogger(__name__)


def _version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


def _common_headers(response: web.StreamResponse) -> None:
    response.headers["Server"] = f"Pier/{__version__} (linux)"
    response.headers["Api-Version"] = API_VERSION
    response.headers["Ostype"] = "linux"
    response.headers.setdefault("Docker-Experimental", "false")


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    _common_headers(response)


@web.middleware
async def _errors(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    try:
        version = request.match_info.get("api_version")
        if version is not None:
            _check_version(version)
        return await handler(request)
    except PierError as exc:
        return error_response(request, exc)
    except web.HTTPNotFound:
        return json_response({"message": "page not found"}, status=404)
    except web.HTTPMethodNotAllowed:
        return json_response({"message": "method not allowed"}, status=405)
    except web.HTTPException:
        raise
    except (ConnectionError, TimeoutError) as exc:
        log.debug("client went away: %s %s: %s", request.method, request.path, exc)
        raise
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return json_response({"message": str(exc) or type(exc).__name__}, status=500)


def error_response(request: web.Request, exc: PierError) -> web.Response:
    """Docker's answer to a failure: its class's status and `{"message": ...}`; a 304
    (start of a running container, stop of a stopped one) has no body at all."""
    if exc.status == 304:
        return web.Response(status=304)
    if exc.status >= 500:
        log.error("%s %s: %s", request.method, request.path, exc)
    return json_response({"message": exc.message}, status=exc.status)


def _check_version(version: str) -> None:
    wanted = _version_tuple(version)
    if wanted > _version_tuple(API_VERSION):
        raise InvalidParameter(
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )
    if wanted < _version_tuple(MIN_API_VERSION):
        raise InvalidParameter(
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )


_VERSION_PREFIX = r"/v{api_version:[0-9]+\.[0-9]+}"


def build_app(routes: Iterable[Route]) -> web.Application:
    app = web.Application(middlewares=[_errors], client_max_size=0)
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
        app.router.add_route(route.method, _VERSION_PREFIX + route.path, route.handler)
    app.on_response_prepare.append(_on_prepare)
    return app


class ApiServer:
    """Serves an application on UNIX sockets; owns the sockets' lifecycle."""

    def __init__(self, *, app: web.Application, hosts: Iterable[str]) -> None:
        self._app = app
        self._hosts = tuple(hosts)
        self._runner: web.AppRunner | None = None
        self._paths: list[Path] = []

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await self._runner.setup()
        for host in self._hosts:
            scheme, _, rest = host.partition("://")
            if scheme == "unix":
                path = Path(rest)
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_socket():
                    path.unlink()
                site = web.UnixSite(self._runner, str(path))
                await site.start()
                # Docker's socket is root:docker 0660; Pier's is root:pier when that
                # group exists, else root only.
                os.chmod(path, 0o660)
                _chgrp(path, "pier")
                self._paths.append(path)
            elif scheme == "tcp":
                raise InvalidParameter(
                    f"refusing to listen on {host}: tcp:// needs TLS client certificates, "
                    "which this version of pierd does not configure yet"
                )
            else:
                raise InvalidParameter(f"invalid host: {host}")

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for path in self._paths:
            path.unlink(missing_ok=True)
        self._paths.clear()


def _chgrp(path: Path, group: str) -> None:
    import grp

    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return
    os.chown(path, -1, gid)
