"""The Engine API client: generic requests, JSON helpers, streams and hijack.

One connection per request (`Connection: close`): on a UNIX socket a connect
costs microseconds, and it keeps bodies "until close" and concurrent requests
(wait while attached) trivial.
"""

from __future__ import annotations

from pier import API_VERSION
from pier.client import jsonlite
from pier.client.errors import APIError, ProtocolError
from pier.client.host import socket_path
from pier.client.http import Hijacked, Response, connect, read_head, send_request

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    Body = bytes | Iterable[bytes] | None


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def quote(text: str, safe: str = "") -> str:
    """Percent-encoding (urllib.parse.quote without importing urllib)."""
    ok = _UNRESERVED | frozenset(safe.encode())
    return "".join(chr(b) if b in ok else f"%{b:02X}" for b in text.encode("utf-8"))


def encode_query(params: Mapping[str, Any]) -> str:
    """Docker's conventions: booleans as 1/0, maps and lists as JSON, None omitted.

    A tuple repeats the parameter (`changes=a&changes=b`).
    """
    parts: list[str] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            parts.extend(f"{quote(key)}={quote(str(v))}" for v in value)
            continue
        if value is True:
            text = "1"
        elif value is False:
            text = "0"
        elif isinstance(value, dict | list):
            text = jsonlite.dumps(value)
        else:
            text = str(value)
        parts.append(f"{quote(key)}={quote(text)}")
    return "&".join(parts)


def error_message(status: int, body: bytes) -> str:
    """The daemon's `message`, else its body text, else the status."""
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            doc = jsonlite.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            return str(doc["message"])
    return text or f"HTTP status {status}"


class Client:
    """Talks to one daemon socket. `path` is a filesystem path or a unix:// URL."""

    def __init__(
        self, path: str, *, version: str = API_VERSION, timeout: float | None = None
    ) -> None:
        self.host = path if path.startswith("unix://") else "unix://" + path
        self.path = socket_path(path)
        self.version = version
        self.timeout = timeout

    def _target(self, path: str, params: Mapping[str, Any] | None) -> str:
        target = f"/v{self.version}{path}" if self.version else path
        query = encode_query(params) if params else ""
        return f"{target}?{query}" if query else target

    def open(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send a request and return the response with its body unread.

        Non-2xx statuses are returned too; `request` is the checking variant.
        """
        sock = connect(self.path, self.host, self.timeout)
        try:
            hdrs = {"User-Agent": "Pier-Client", "Connection": "close"}
            if headers:
                hdrs.update(headers)
            send_request(sock, method, self._target(path, params), hdrs, body)
            status, reason, rhead, rest = read_head(sock)
        except BaseException:
            sock.close()
            raise
        return Response(sock, status, reason, rhead, rest, no_body=method == "HEAD")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Body = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send a request; raise APIError on a non-2xx answer. The body is unread: call
        `read()`, or iterate `iter_lines()` / `iter_chunks()` for a stream."""
        hdrs = dict(headers or {})
        if json is not None:
            body = jsonlite.dumps(json).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        resp = self.open(method, path, params=params, body=body, headers=hdrs)
        if not 200 <= resp.status < 300:
            data = resp.read()
            raise APIError(resp.status, error_message(resp.status, data))
        return resp

    def get_json(self, path: str, **params: Any) -> Any:
        return _json_body(self.request("GET", path, params=params))

    def post_json(self, path: str, body: Any = None, **params: Any) -> Any:
        """POST with an optional JSON body; the decoded answer, or None if empty."""
        return _json_body(self.request("POST", path, params=params, json=body))

    def post(self, path: str, **params: Any) -> None:
        self.request("POST", path, params=params).read()

    def delete(self, path: str, **params: Any) -> Any:
        return _json_body(self.request("DELETE", path, params=params))

    def get_raw(self, path: str, **params: Any) -> str:
        """The body as text (for `inspect`, which re-indents what the daemon sent)."""
        return self.request("GET", path, params=params).read().decode("utf-8")

    def ping(self) -> Response:
        resp = self.request("GET", "/_ping")
        resp.read()
        return resp

    def hijack(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Hijacked:
        """Upgrade the connection and hand back the raw stream (attach, exec start)."""
        sock = connect(self.path, self.host, self.timeout)
        try:
            hdrs = {"User-Agent": "Pier-Client", "Connection": "Upgrade", "Upgrade": "tcp"}
            body = None
            if json is not None:
                body = jsonlite.dumps(json).encode("utf-8")
                hdrs["Content-Type"] = "application/json"
            send_request(sock, method, self._target(path, params), hdrs, body)
            status, _reason, rhead, rest = read_head(sock)
            if status != 101:
                if not 200 <= status < 300:
                    data = Response(sock, status, _reason, rhead, rest).read()
                    raise APIError(status, error_message(status, data))
                raise ProtocolError(f"unable to upgrade to tcp, received {status}")
        except BaseException:
            sock.close()
            raise
        if self.timeout is not None:
            sock.settimeout(None)
        return Hijacked(sock, rest)


def _json_body(resp: Response) -> Any:
    data = resp.read()
    if not data.strip():
        return None
    return jsonlite.loads(data)
