"""/networks endpoints: list, inspect, create, remove, connect, disconnect, prune."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web

from pier.api.routing import Route, json_response, no_content, query_filters, read_json
from pier.api.wire.containers import parse_endpoint
from pier.api.wire.networks import parse_create, render_network
from pier.containers.model import Container
from pier.errors import InvalidParameter
from pier.networking.model import Attachment, AttachRequest, Network
from pier.networking.settings import NewNetwork


class Networks(Protocol):
    def networks(self) -> list[Network]: ...
    def get(self, ref: str) -> Network: ...
    def attachments_of(self, net_id: str) -> list[Attachment]: ...
    async def create(self, request: NewNetwork) -> Network: ...
    async def remove(self, ref: str) -> None: ...
    async def prune(self, keep: Any) -> list[str]: ...
    async def connect(
        self,
        ref: str,
        cid: str,
        *,
        name: str,
        hostname: str,
        labels: Mapping[str, str],
        mode: str,
        request: AttachRequest,
    ) -> None: ...
    async def disconnect(self, ref: str, cid: str, *, name: str, force: bool) -> None: ...


class ContainerLookup(Protocol):
    def get(self, ref: str) -> Container: ...


_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


def routes(networks: Networks, containers: ContainerLookup) -> list[Route]:
    async def list_(request: web.Request) -> web.StreamResponse:
        filters = query_filters(request)
        for key in filters:
            if key not in _FILTERS:
                raise InvalidParameter(f"invalid filter '{key}'")
        out = [
            render_network(n, None)
            for n in sorted(networks.networks(), key=lambda n: n.created)
            if matches(n, filters, in_use=any(a.endpoint for a in networks.attachments_of(n.id)))
        ]
        return json_response(out)

    async def inspect(request: web.Request) -> web.StreamResponse:
        net = networks.get(request.match_info["id"])
        return json_response(render_network(net, networks.attachments_of(net.id)))

    async def create(request: web.Request) -> web.StreamResponse:
        net = await networks.create(parse_create(await read_json(request, allow_empty=False)))
        return json_response({"Id": net.id, "Warning": ""}, status=201)

    async def remove(request: web.Request) -> web.StreamResponse:
        await networks.remove(request.match_info["id"])
        return no_content()

    async def connect(request: web.Request) -> web.StreamResponse:
        body = await read_json(request, allow_empty=False)
        # The body is decoded before any lookup: a malformed one is a 400 (moby's
        # ReadJSON), whatever it names.
        endpoint = parse_endpoint(body.get("EndpointConfig"))
        ref = request.match_info["id"]
        networks.get(ref)  # an unknown network is a 404 before the container's
        container = containers.get(str(body.get("Container") or ""))
        await networks.connect(
            ref,
            container.id,
            name=container.name,
            hostname=container.config.hostname,
            labels=container.config.labels,
            mode=container.host_config.network_mode,
            request=endpoint,
        )
        return web.Response(status=200)

    async def disconnect(request: web.Request) -> web.StreamResponse:
        body = await read_json(request, allow_empty=False)
        ref = request.match_info["id"]
        networks.get(ref)
        container = containers.get(str(body.get("Container") or ""))
        await networks.disconnect(
            ref, container.id, name=container.name, force=bool(body.get("Force"))
        )
        return web.Response(status=200)

    async def prune(request: web.Request) -> web.StreamResponse:
        filters = query_filters(request)
        removed = await networks.prune(lambda n: not matches_prune(n, filters))
        return json_response({"NetworksDeleted": removed or None})

    return [
        Route("GET", "/networks", list_),
        Route("GET", "/networks/{id}", inspect),
        Route("POST", "/networks/create", create),
        Route("POST", "/networks/prune", prune),
        Route("DELETE", "/networks/{id}", remove),
        Route("POST", "/networks/{id}/connect", connect),
        Route("POST", "/networks/{id}/disconnect", disconnect),
    ]


def _labels_match(net: Network, wanted: Sequence[str]) -> bool:
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in net.labels or (eq and net.labels[key] != value):
            return False
    return True


def matches(net: Network, filters: Mapping[str, list[str]], *, in_use: bool) -> bool:
    """moby's network list filters."""
    for key, values in filters.items():
        if not values:
            continue
        if key == "driver" and net.driver not in values:
            return False
        if key == "id" and not any(net.id.startswith(v) for v in values):
            return False
        if key == "name" and not any(v in net.name for v in values):
            return False
        if key == "label" and not _labels_match(net, values):
            return False
        if key == "scope" and net.scope not in values:
            return False
        if key == "type":
            builtin = net.name in ("bridge", "host", "none")
            kinds = {"builtin" if builtin else "custom"}
            if not kinds & set(values):
                if any(v not in ("builtin", "custom") for v in values):
                    raise InvalidParameter(f"invalid filter: 'type'='{values[0]}'")
                return False
        if key == "dangling":
            want = values[0].lower() in ("1", "true")
            builtin = net.name in ("bridge", "host", "none")
            if want == (builtin or in_use):
                return False
    return True


def matches_prune(net: Network, filters: Mapping[str, list[str]]) -> bool:
    labels = filters.get("label", [])
    negated = filters.get("label!", [])
    if labels and not _labels_match(net, labels):
        return False
    return not (negated and any(_labels_match(net, [v]) for v in negated))
