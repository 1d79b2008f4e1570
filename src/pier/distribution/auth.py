"""Registry credentials and the challenges that ask for them.

`AuthConfig` is what clients send in `X-Registry-Auth` (base64url of Docker's
AuthConfig JSON; `e30=` when anonymous) and in `POST /auth`. A registry answers a
request without the right credentials with 401 and `WWW-Authenticate`: `Basic realm=..`
or `Bearer realm=..,service=..,scope=..`. For bearer, a token is fetched from the realm:
with an identity (refresh) token by the OAuth2 POST flow (`grant_type=refresh_token`), else
by GET with basic credentials (what Docker does), and by the OAuth2 POST password flow
when the realm refuses GET. Tokens are cached by realm, service, scopes and credentials
until shortly before they expire.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from pier.errors import InvalidParameter

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')
# Docker's minimum token lifetime when the server names none or less.
MIN_TOKEN_SECONDS = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthConfig:
    username: str = ""
    password: str = ""
    auth: str = ""  # base64("user:password"), as in config.json
    email: str = ""
    server_address: str = ""
    identity_token: str = ""  # an OAuth2 refresh token
    registry_token: str = ""  # a bearer token used as is

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    def credentials(self) -> tuple[str, str]:
        if self.username or self.password:
            return self.username, self.password
        return "", ""

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AuthConfig:
        lowered = {k.lower(): v for k, v in raw.items() if isinstance(v, str)}
        username = lowered.get("username", "")
        password = lowered.get("password", "")
        auth = lowered.get("auth", "")
        if auth and not (username or password):
            try:
                decoded = base64.b64decode(auth + "=" * (-len(auth) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            username, _, password = decoded.partition(":")
        return cls(
            username=username,
            password=password,
            auth=auth,
            email=lowered.get("email", ""),
            server_address=lowered.get("serveraddress", ""),
            identity_token=lowered.get("identitytoken", ""),
            registry_token=lowered.get("registrytoken", ""),
        )


def decode_header(value: str | None) -> AuthConfig:
    """The `X-Registry-Auth` header; invalid or absent means anonymous, as in moby
    (it ignores an invalid AuthConfig for compatibility)."""
    if not value:
        return AuthConfig()
    padded = value.strip() + "=" * (-len(value.strip()) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            raw = json.loads(decode(padded))
        except (binascii.Error, ValueError):
            continue
        if isinstance(raw, dict):
            return AuthConfig.from_json(raw)
    return AuthConfig()


def parse_body(data: bytes) -> AuthConfig:
    """The JSON body of `POST /auth`."""
    try:
        raw = json.loads(data or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"invalid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidParameter("invalid JSON: body must be an object")
    return AuthConfig.from_json(raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    scheme: str  # "basic" or "bearer", lowercased
    params: dict[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenges(headers: list[str]) -> list[Challenge]:
    """RFC 7235 challenges of `WWW-Authenticate` headers (one challenge per header,
    as registries send them)."""
    out = []
    for header in headers:
        scheme, _, rest = header.strip().partition(" ")
        params: dict[str, str] = {}
        for m in _PARAM.finditer(rest):
            quoted, bare = m.group(2), m.group(3)
            params[m.group(1).lower()] = (
                re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
            )
        out.append(Challenge(scheme=scheme.lower(), params=params))
    return out


@dataclass(slots=True)
class Token:
    value: str
    expires: float  # monotonic
    refresh_token: str = ""


class TokenCache:
    """Bearer tokens by (realm, service, scopes, who). Owned by the distribution service;
    touched only on the event loop."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str, str], Token] = {}

    @staticmethod
    def key(challenge: Challenge, scopes: str, auth: AuthConfig) -> tuple[str, str, str, str]:
        who = auth.identity_token or auth.registry_token or f"{auth.username}\0{auth.password}"
        return challenge.realm, challenge.params.get("service", ""), scopes, who

    def get(self, key: tuple[str, str, str, str]) -> Token | None:
        token = self._tokens.get(key)
        if token is None or token.expires <= time.monotonic():
            self._tokens.pop(key, None)
            return None
        return token

    def put(self, key: tuple[str, str, str, str], body: dict[str, Any]) -> Token:
        value = str(body.get("token") or body.get("access_token") or "")
        if not value:
            raise InvalidParameter("authorization server did not include a token in the response")
        try:
            lifetime = int(body.get("expires_in") or MIN_TOKEN_SECONDS)
        except (TypeError, ValueError):
            lifetime = MIN_TOKEN_SECONDS
        # Refresh a little before the server's deadline.
        lifetime = max(lifetime, MIN_TOKEN_SECONDS) - 5
        token = Token(
            value=value,
            expires=time.monotonic() + lifetime,
            refresh_token=str(body.get("refresh_token") or ""),
        )
        self._tokens[key] = token
        return token

    def drop(self, key: tuple[str, str, str, str]) -> None:
        self._tokens.pop(key, None)


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
