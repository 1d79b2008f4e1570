"""/swarm, /nodes, /services, /tasks, /secrets, /configs: a node outside any swarm.

Until Pier runs services, every endpoint answers as dockerd does on an inactive node:
503 with moby's wording (daemon/cluster errors.go, cluster.go errNoManager). Clients
depend on it: docker-py tears a test session down with `POST /swarm/leave` and accepts
only that 503; the docker CLI prints the message as it is.
"""

from __future__ import annotations

from aiohttp import web

from pier.api.routing import Route
from pier.errors import Unavailable

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
NOT_IN_A_SWARM = "This node is not part of a swarm"
# Init and join would succeed on dockerd; Pier cannot start a swarm yet. Still 503,
# the status of every other swarm refusal, so clients treat it as "swarm unavailable".
NO_SWARM_MODE = "Pier does not support swarm mode yet: this node cannot create or join a swarm"


async def _not_a_manager(request: web.Request) -> web.StreamResponse:
    raise Unavailable(NOT_A_MANAGER)


async def _not_in_a_swarm(request: web.Request) -> web.StreamResponse:
    raise Unavailable(NOT_IN_A_SWARM)


async def _no_swarm_mode(request: web.Request) -> web.StreamResponse:
    raise Unavailable(NO_SWARM_MODE)


def _object_routes(kind: str, *, inspect_logs: bool = False) -> list[Route]:
    """The list/create/inspect/update/remove set that nodes, services, secrets and
    configs share (moby's router registers each; all need a manager)."""
    routes = [
        Route("GET", f"/{kind}", _not_a_manager),
        Route("GET", f"/{kind}/{{id}}", _not_a_manager),
        Route("DELETE", f"/{kind}/{{id}}", _not_a_manager),
        Route("POST", f"/{kind}/{{id}}/update", _not_a_manager),
    ]
    if kind != "nodes":  # nodes join; they are not created through the API
        routes.append(Route("POST", f"/{kind}/create", _not_a_manager))
    if inspect_logs:
        routes.append(Route("GET", f"/{kind}/{{id}}/logs", _not_a_manager))
    return routes


def routes() -> list[Route]:
    return [
        Route("GET", "/swarm", _not_a_manager),
        Route("POST", "/swarm/init", _no_swarm_mode),
        Route("POST", "/swarm/join", _no_swarm_mode),
        Route("POST", "/swarm/leave", _not_in_a_swarm),
        Route("POST", "/swarm/update", _not_a_manager),
        Route("GET", "/swarm/unlockkey", _not_a_manager),
        Route("POST", "/swarm/unlock", _not_a_manager),
        *_object_routes("nodes"),
        *_object_routes("services", inspect_logs=True),
        *_object_routes("secrets"),
        *_object_routes("configs"),
        Route("GET", "/tasks", _not_a_manager),
        Route("GET", "/tasks/{id}", _not_a_manager),
        Route("GET", "/tasks/{id}/logs", _not_a_manager),
    ]
