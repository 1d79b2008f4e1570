"""How routers describe their endpoints and read Docker's request conventions.

A router module exposes `routes(service) -> list[Route]`; the server mounts every
route both unversioned and under `/v{version}`. Handlers raise PierError subclasses;
the server turns them into Docker's `{"message": ...}` bodies in one place.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from pier import API_VERSION, timefmt
from pier.errors import InvalidParameter, PayloadTooLarge

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # aiohttp syntax, e.g. "/images/{name:.+}/json"
    handler: Handler


def api_version(request: web.Request) -> str:
    """The API version the client speaks: its path's `/vX.Y`, else the newest."""
    return request.match_info.get("api_version") or API_VERSION


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode() + b"\n",
        status=status,
        content_type="application/json",
    )


def no_content(status: int = 204) -> web.Response:
    return web.Response(status=status)


# A create request with every field set is a few KiB; dockerd reads JSON bodies as a
# stream and stops at the first bad byte. Pier reads at most this much, then says 413.
MAX_JSON_BODY = 4 * 1024 * 1024


async def _read_bounded(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes | str) -> Any:
    """JSON from a client: anything that is not valid JSON (bad UTF-8, nesting deeper
    than the parser's recursion allows) is a 400, never a 500."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise InvalidParameter("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidParameter(f"invalid JSON: {exc}") from exc


async def read_json(request: web.Request, *, allow_empty: bool = True) -> dict[str, Any]:
    """The JSON object in the body; Docker's wording when it is not one."""
    raw = await _read_bounded(request, MAX_JSON_BODY)
    if not raw.strip():
        if allow_empty:
            return {}
        raise InvalidParameter("invalid JSON: request body is empty")
    body = parse_json(raw)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidParameter("invalid JSON: body must be an object")
    return body


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    """Docker's boolean query values: absent -> default; "", "0", "false", "no" -> False."""
    value = request.query.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("", "0", "false", "no", "off")


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidParameter(f'strconv.Atoi: parsing "{value}": invalid syntax') from None


def query_time(request: web.Request, name: str) -> int | None:
    """A `since`/`until` bound in nanoseconds (Unix seconds or RFC 3339); None if unset."""
    text = request.query.get(name, "")
    try:
        return timefmt.parse_api_time(text)
    except ValueError:
        raise InvalidParameter(f"invalid value for {name}: {text.strip()}") from None


def query_filters(request: web.Request) -> dict[str, list[str]]:
    """`filters` as Docker sends it: {"key": ["v", ...]} or the legacy {"key": {"v": true}}."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        parsed = parse_json(raw)
    except InvalidParameter as exc:
        raise InvalidParameter(f"invalid filter: {exc.message}") from exc
    if not isinstance(parsed, dict):
        raise InvalidParameter("invalid filter: not an object")
    out: dict[str, list[str]] = {}
    for key, values in parsed.items():
        if isinstance(values, dict):
            out[key] = [v for v, on in values.items() if on]
        elif isinstance(values, list):
            out[key] = [str(v) for v in values]
        else:
            raise InvalidParameter(f"invalid filter '{key}'")
    return out
