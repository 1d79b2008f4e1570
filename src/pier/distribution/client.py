"""The registry HTTP client (OCI distribution API v2) on aiohttp.

`RegistryClient` is owned by the distribution service: one aiohttp session, the token
cache, and which scheme each insecure registry answered on. `Repository` is one
repository at one endpoint with one set of credentials and the actions wanted
(`pull`, `pull,push`); its requests authenticate themselves on a 401 (basic or bearer,
see `pier.distribution.auth`) and retry once.

Registry failures become PierErrors here, with distribution's error code text
(`manifest unknown: manifest unknown`) so callers can word them as Docker does.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from pier.distribution import auth as authn
from pier.distribution.hosts import Endpoint, RegistryHosts
from pier.errors import (
    Forbidden,
    InvalidParameter,
    NotFound,
    PierError,
    SystemFailure,
    Unauthorized,
    Unavailable,
)

USER_AGENT = "pier/0.1 (docker-compatible)"
MAX_ERROR_BODY = 64 << 10
MAX_TOKEN_BODY = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorCode:
    """One entry of a registry's `{"errors": [...]}` body."""

    code: str  # MANIFEST_UNKNOWN
    message: str

    def __str__(self) -> str:
        # distribution's errcode.Error: "<code lowercased, spaces>: <message>"
        return f"{self.code.lower().replace('_', ' ')}: {self.message}"


class RegistryCallFailed(SystemFailure):
    """A registry answered with an error status. Callers word it as Docker does
    (`to_pier_error`, or their own wording for a pull); left as is it is a 500."""

    def __init__(self, status: int, codes: list[ErrorCode], url: str) -> None:
        super().__init__(str(codes[0]) if codes else _status_text(status, url))
        self.status = status
        self.codes = codes
        self.url = url

    @property
    def first(self) -> ErrorCode | None:
        return self.codes[0] if self.codes else None

    def to_pier_error(self) -> PierError:
        text = str(self.first) if self.first else _status_text(self.status, self.url)
        if self.status == 401:
            return Unauthorized(text)
        if self.status == 403:
            return Forbidden(text)
        if self.status == 404:
            return NotFound(text)
        if self.status in (400, 405, 413, 416):
            return InvalidParameter(text)
        return SystemFailure(text)


def _status_text(status: int, url: str) -> str:
    return f"unexpected status from registry: {status} for {url}"


class RegistryClient:
    def __init__(
        self,
        *,
        hosts: RegistryHosts,
        connect_timeout: float = 15.0,
        read_timeout: float = 60.0,
    ) -> None:
        self.hosts = hosts
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=connect_timeout,
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        self._session: aiohttp.ClientSession | None = None
        self.tokens = authn.TokenCache()
        self._bases: dict[str, str] = {}  # insecure host -> the base URL that answered

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT},
                # Blobs are streamed to disk: no automatic decompression of any body.
                auto_decompress=False,
                connector=aiohttp.TCPConnector(limit=32, ttl_dns_cache=60),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def endpoints(self, domain: str) -> list[Endpoint]:
        # Name resolution for the loopback rule blocks: off the loop.
        return await asyncio.to_thread(self.hosts.endpoints, domain)

    async def base_url(self, endpoint: Endpoint) -> str:
        """The URL to use for `endpoint`: for an insecure one, HTTPS if it answers (without
        verification, as dockerd), else HTTP; remembered once known."""
        if not endpoint.insecure or endpoint.base.startswith("http://"):
            return endpoint.base
        known = self._bases.get(endpoint.host)
        if known is not None:
            return known
        base = endpoint.base
        tls = await self.ssl_for(endpoint, base)
        try:
            async with self.session().get(f"{base}/v2/", ssl=tls, allow_redirects=False) as resp:
                await resp.read()
        except (aiohttp.ClientSSLError, aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
            base = "http://" + endpoint.host
        except aiohttp.ClientConnectionError as exc:
            raise _unreachable(endpoint.host, exc) from exc
        except TimeoutError as exc:
            raise _unreachable(endpoint.host, exc) from exc
        self._bases[endpoint.host] = base
        return base

    async def ssl_for(self, endpoint: Endpoint, base: str) -> ssl.SSLContext | bool:
        if base.startswith("http://"):
            return False
        # Off the loop: certs.d is listed at each request, and a changed directory
        # means a new context, which reads the system's CA bundle.
        return await asyncio.to_thread(
            self.hosts.tls_context, endpoint.host, verify=not endpoint.insecure
        )

    async def repository(
        self, endpoint: Endpoint, path: str, auth: authn.AuthConfig, actions: str
    ) -> Repository:
        return Repository(
            client=self,
            endpoint=endpoint,
            base=await self.base_url(endpoint),
            path=path,
            auth=auth,
            actions=actions,
        )


def _unreachable(host: str, exc: BaseException) -> Unavailable:
    if isinstance(exc, aiohttp.ClientSSLError) or "[SSL" in str(exc):
        return Unavailable(f'Get "https://{host}/v2/": {_tls_reason(exc)}')
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        reason = "i/o timeout"
    return Unavailable(f'Get "https://{host}/v2/": dial tcp {host}: {reason}')


# OpenSSL's verification failures in the words of Go's crypto/x509, which dockerd's
# messages carry (clients and users match on them).
_X509 = (
    ("unable to get local issuer certificate", "certificate signed by unknown authority"),
    ("self-signed certificate", "certificate signed by unknown authority"),
    ("self signed certificate", "certificate signed by unknown authority"),
    ("certificate has expired", "certificate has expired or is not yet valid"),
    ("certificate is not yet valid", "certificate has expired or is not yet valid"),
    ("mismatch", "certificate is not valid for this host"),
)


def _tls_reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        detail = str(exc.certificate_error)
        for openssl, go in _X509:
            if openssl in detail.lower():
                return f"tls: failed to verify certificate: x509: {go}"
        return f"tls: failed to verify certificate: {detail}"
    detail = str(getattr(exc, "os_error", exc) or exc)
    # An alert from the registry ("tlsv13 alert certificate required") as Go names it.
    if "alert" in detail.lower():
        alert = detail.lower().rsplit("alert", 1)[1].split("(")[0].strip(" ]")
        return f"remote error: tls: {alert}"
    return f"tls: {detail}"


class Repository:
    """One repository at one endpoint. Request helpers raise RegistryCallFailed on an
    error status and Unavailable when the registry cannot be reached."""

    def __init__(
        self,
        *,
        client: RegistryClient,
        endpoint: Endpoint,
        base: str,
        path: str,
        auth: authn.AuthConfig,
        actions: str,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.base = base
        self.path = path
        self.auth = auth
        self.actions = actions
        self._authorization: str | None = None
        self._extra_scopes: list[str] = []

    def url(self, suffix: str) -> str:
        return f"{self.base}/v2/{self.path}/{suffix}"

    def with_mount_source(self, source_path: str) -> None:
        """Ask the next token for pull access to `source_path` too (cross-repo mount)."""
        scope = f"repository:{source_path}:pull"
        if scope not in self._extra_scopes:
            self._extra_scopes.append(scope)
            self._authorization = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        expect: tuple[int, ...] = (200,),
        retry_auth: bool = True,
    ) -> aiohttp.ClientResponse:
        """Send one request (authenticated, retried once after a 401 challenge); the
        response is open, with a status in `expect`: the caller reads and releases it."""
        hdrs = dict(headers or {})
        if self._authorization is None and self.auth.registry_token:
            self._authorization = "Bearer " + self.auth.registry_token
        if self._authorization:
            hdrs["Authorization"] = self._authorization
        session = self.client.session()
        tls = await self.client.ssl_for(self.endpoint, self.base)
        try:
            resp = await session.request(
                method,
                url,
                headers=hdrs,
                data=data,
                ssl=tls,
                allow_redirects=True,
            )
        except aiohttp.ClientConnectorError as exc:
            raise _unreachable(self.endpoint.host, exc) from exc
        except aiohttp.ClientOSError as exc:
            # The registry refused the TLS session after the handshake (an alert).
            if "[SSL" not in str(exc):
                raise
            raise _unreachable(self.endpoint.host, exc) from exc
        except TimeoutError as exc:
            raise _unreachable(self.endpoint.host, exc) from exc
        # A streamed body cannot be sent twice: uploads authenticate on the POST before.
        replayable = data is None or isinstance(data, bytes | str | dict)
        if resp.status == 401 and retry_auth and replayable:
            challenges = authn.parse_challenges(resp.headers.getall("WWW-Authenticate", []))
            resp.release()
            if challenges:
                await self._authenticate(challenges)
                return await self.request(
                    method, url, headers=headers, data=data, expect=expect, retry_auth=False
                )
            raise RegistryCallFailed(401, [], url)
        if resp.status not in expect:
            raise await failure(resp)
        return resp

    async def _authenticate(self, challenges: list[authn.Challenge]) -> None:
        for ch in challenges:
            if ch.scheme == "bearer" and ch.realm:
                self._authorization = "Bearer " + await self._token(ch)
                return
        for ch in challenges:
            if ch.scheme == "basic":
                user, password = self.auth.credentials()
                if not user and not password:
                    raise Unauthorized("no basic auth credentials")
                self._authorization = authn.basic_header(user, password)
                return
        raise Unauthorized(f"unsupported authentication challenge {challenges[0].scheme!r}")

    def scopes(self, ch: authn.Challenge) -> list[str]:
        out = [f"repository:{self.path}:{self.actions}", *self._extra_scopes]
        # A scope the registry named that we did not compute (e.g. a registry-wide one).
        for extra in ch.params.get("scope", "").split(" "):
            if extra and extra not in out and not extra.startswith(f"repository:{self.path}:"):
                out.append(extra)
        return out

    async def _token(self, ch: authn.Challenge) -> str:
        scopes = self.scopes(ch)
        key = self.client.tokens.key(ch, " ".join(scopes), self.auth)
        cached = self.client.tokens.get(key)
        if cached is not None:
            return cached.value
        body = await fetch_token(self.client.session(), ch, scopes, self.auth)
        return self.client.tokens.put(key, body).value


async def failure(resp: aiohttp.ClientResponse) -> RegistryCallFailed:
    """Read (a bounded part of) an error response and release it."""
    try:
        raw = await resp.content.read(MAX_ERROR_BODY)
    except aiohttp.ClientError:
        raw = b""
    finally:
        resp.release()
    return RegistryCallFailed(resp.status, parse_errors(raw), str(resp.url))


def parse_errors(raw: bytes) -> list[ErrorCode]:
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    items = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return []
    return [
        ErrorCode(code=str(e.get("code") or "UNKNOWN"), message=str(e.get("message") or ""))
        for e in items
        if isinstance(e, dict)
    ]


async def fetch_token(
    session: aiohttp.ClientSession,
    ch: authn.Challenge,
    scopes: list[str],
    auth: authn.AuthConfig,
    *,
    offline: bool = False,
) -> dict[str, Any]:
    """A bearer token from the challenge's realm (the token server's JSON answer)."""
    service = ch.params.get("service", "")
    if auth.identity_token:
        return await _oauth_post(
            session,
            ch.realm,
            {
                "grant_type": "refresh_token",
                "refresh_token": auth.identity_token,
                "service": service,
                "scope": " ".join(scopes),
                "client_id": "docker",
            },
        )
    params: list[tuple[str, str]] = []
    if service:
        params.append(("service", service))
    params.extend(("scope", s) for s in scopes)
    user, password = auth.credentials()
    headers = {}
    if user or password:
        headers["Authorization"] = authn.basic_header(user, password)
        if offline:
            params.append(("offline_token", "true"))
            params.append(("client_id", "docker"))
    try:
        async with session.get(ch.realm, params=params, headers=headers) as resp:
            if resp.status in (404, 405) and (user or password):
                # The realm speaks only OAuth2: the password grant.
                return await _oauth_post(
                    session,
                    ch.realm,
                    {
                        "grant_type": "password",
                        "username": user,
                        "password": password,
                        "service": service,
                        "scope": " ".join(scopes),
                        "client_id": "docker",
                        "access_type": "offline" if offline else "online",
                    },
                )
            return await _token_body(resp)
    except aiohttp.ClientConnectionError as exc:
        raise Unavailable(f"failed to fetch an authorization token from {ch.realm}: {exc}") from exc


async def _oauth_post(
    session: aiohttp.ClientSession, realm: str, form: dict[str, str]
) -> dict[str, Any]:
    try:
        async with session.post(realm, data=form) as resp:
            return await _token_body(resp)
    except aiohttp.ClientConnectionError as exc:
        raise Unavailable(f"failed to fetch an authorization token from {realm}: {exc}") from exc


async def _token_body(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    raw = await resp.content.read(MAX_TOKEN_BODY)
    if resp.status in (401, 403):
        errors = parse_errors(raw)
        detail = str(errors[0]) if errors else "incorrect username or password"
        raise Unauthorized(f"unauthorized: {detail}" if not errors else detail)
    if resp.status != 200:
        raise SystemFailure(f"token server answered {resp.status} for {resp.url}")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SystemFailure(f"invalid token response: {exc}") from exc
    if not isinstance(body, dict):
        raise SystemFailure("invalid token response: not an object")
    return body
