"""The Engine API server: versions, Docker's headers and the error -> status mapping.

Routers describe endpoints (`pier.api.routing.Route`); this module mounts each one
unversioned and under `/v{version}`, and is the ONE place where a PierError becomes
an HTTP status and Docker's `{"message": ...}` body.

It also knows every request in flight (`InFlight`), so that stopping is quick
whatever clients are doing: long-polls and streams (a `/wait` the docker CLI leaves
behind on every `run -d`, `/events`, `logs -f`, attach) would otherwise hold the
shutdown for aiohttp's 60 s grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware

from pier import API_VERSION, MIN_API_VERSION, __version__
from pier.api.hijack import HIJACKED, HijackedStream
from pier.api.listeners import Listener, close_listeners, open_listeners
from pier.api.routing import Route, json_response
from pier.api.tls import TlsSockSite
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


# Set on a request once its response headers are out: from then on it is a stream
# (or a long-poll), which a shutdown ends at once rather than waiting for it.
_STREAMING = web.RequestKey("pier.streaming", bool)
# Grace a shutdown gives ordinary requests (a create, a stop) before cancelling them,
# and then the cancelled ones to unwind; with the streams ended at once, pierd stops
# within 2 s whatever is pending.
SHUTDOWN_GRACE = 1.0
UNWIND_GRACE = 0.5


class InFlight:
    """The requests being handled, by handler task, for the shutdown."""

    def __init__(self) -> None:
        self._requests: dict[asyncio.Task[object], web.Request] = {}
        self.hijacked: set[HijackedStream] = set()

    def __len__(self) -> int:
        return len(self._requests)

    def track(self, request: web.Request) -> asyncio.Task[object] | None:
        task = asyncio.current_task()
        if task is not None:  # aiohttp always runs handlers in a task
            self._requests[task] = request
        return task

    def untrack(self, task: asyncio.Task[object] | None) -> None:
        if task is not None:
            del self._requests[task]

    async def end(self) -> None:
        """Close hijacked connections and cancel streams now, give the other requests
        SHUTDOWN_GRACE to finish, then cancel them too."""
        for stream in list(self.hijacked):
            stream.close()
        streams = [t for t, r in self._requests.items() if r.get(_STREAMING)]
        for task in streams:
            task.cancel()
        rest = [t for t in self._requests if t not in streams]
        for task in rest:
            request = self._requests[task]
            log.debug("waiting for %s %s to finish", request.method, request.path)
        if rest:
            _, pending = await asyncio.wait(rest, timeout=SHUTDOWN_GRACE)
            for task in pending:
                task.cancel()
        if self._requests:
            await asyncio.wait(list(self._requests), timeout=UNWIND_GRACE)
        if self._requests:
            log.warning("%d request(s) still running at shutdown", len(self._requests))


_INFLIGHT = web.AppKey("pier.inflight", InFlight)


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    request[_STREAMING] = True
    _common_headers(response)


def _failure(request: web.Request, exc: Exception) -> web.StreamResponse:
    """The answer to a handler's exception (or the exception again, for aiohttp)."""
    if isinstance(exc, PierError):
        return error_response(request, exc)
    if isinstance(exc, web.HTTPNotFound):
        return json_response({"message": "page not found"}, status=404)
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return json_response({"message": "method not allowed"}, status=405)
    if isinstance(exc, web.HTTPException):
        raise exc
    if isinstance(exc, TimeoutError):
        log.debug("timed out: %s %s: %s", request.method, request.path, exc)
        raise exc
    if isinstance(exc, ConnectionError) and _client_gone(request):
        # A client that leaves is normal (the docker CLI leaves a /wait behind on every
        # `run -d`): nothing above debug, and nothing for aiohttp to log either. The
        # answer returned meets the closed transport, which aiohttp takes quietly.
        log.debug("client went away: %s %s: %s", request.method, request.path, exc)
        return web.Response(status=204)
    # e.g. a monitor's socket refused us: our failure
    log.exception("%s %s failed", request.method, request.path, exc_info=exc)
    return json_response({"message": str(exc) or type(exc).__name__}, status=500)


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


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


# What a request's work runs inside, by its "METHOD path" (pierd gives each mutating
# request a lease on the blobs and snapshots it makes: see pier.content.leases).
RequestScope = Callable[[str], contextlib.AbstractContextManager[object]]

_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


def _middleware(inflight: InFlight, scope: RequestScope | None) -> Middleware:
    """Every request: tracked while its handler runs (for shutdown), its API version
    checked, a mutating one run inside `scope`, failures answered as Docker does. One
    middleware, not three: each costs a coroutine per request (/_ping is ~150 us)."""

    @web.middleware
    async def middleware(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        task = inflight.track(request)
        try:
            version = request.match_info.get("api_version")
            if version is not None:
                _check_version(version)
            if scope is None or request.method in _READ_ONLY:
                return await handler(request)
            with scope(f"{request.method} {request.path}"):
                return await handler(request)
        except Exception as exc:
            return _failure(request, exc)
        finally:
            inflight.untrack(task)

    return middleware


def build_app(routes: Iterable[Route], *, scope: RequestScope | None = None) -> web.Application:
    inflight = InFlight()
    app = web.Application(middlewares=[_middleware(inflight, scope)], client_max_size=0)
    app[_INFLIGHT] = inflight
    app[HIJACKED] = inflight.hijacked
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
        app.router.add_route(route.method, _VERSION_PREFIX + route.path, route.handler)
    app.on_response_prepare.append(_on_prepare)
    return app


class ApiServer:
    """Serves an application on UNIX sockets; owns the sockets' lifecycle.

    `close()` stops listening, ends what clients still wait on (see InFlight), then
    lets aiohttp close the idle connections."""

    def __init__(
        self,
        *,
        app: web.Application,
        hosts: Iterable[str] = (),
        listeners: Iterable[Listener] = (),
    ) -> None:
        self._app = app
        self._inflight = app[_INFLIGHT]
        self._hosts = tuple(hosts)
        # Sockets bound beforehand (pierd binds them before any thread exists: see
        # pier.api.listeners); `hosts` are bound at start with the default options.
        self._listeners = list(listeners)
        self._runner: web.AppRunner | None = None

    @property
    def connections(self) -> int:
        """HTTP connections aiohttp keeps track of (hijacked ones included until they
        end): what must come back to zero when clients leave."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    @property
    def requests(self) -> int:
        return len(self._inflight)

    async def start(self) -> None:
        self._listeners.extend(open_listeners(self._hosts))
        self._hosts = ()
        # Keep-alive probes are for TCP peers that may vanish; on a UNIX socket they
        # are one setsockopt per connection for nothing (each `docker` command opens one).
        tcp = any(lst.sock.family != socket.AF_UNIX for lst in self._listeners)
        self._runner = web.AppRunner(
            self._app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=UNWIND_GRACE,
            tcp_keepalive=tcp,
        )
        await self._runner.setup()
        for listener in self._listeners:
            site: web.BaseSite
            if listener.ssl_context is None:
                site = web.SockSite(self._runner, listener.sock)
            else:
                site = TlsSockSite(self._runner, listener.sock, listener.ssl_context)
            await site.start()

    async def close(self) -> None:
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()  # no new connections from here on
            close_listeners(self._listeners)
            await self._inflight.end()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner.cleanup()
            self._runner = None
        close_listeners(self._listeners)
        self._listeners.clear()
