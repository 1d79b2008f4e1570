"""Registry endpoints: pull (`POST /images/create?fromImage=`, reached through the images
router), push, distribution inspect and `POST /auth`. Thin, as every router: read the
request as moby does, make one service call, stream or write Docker's JSON."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web

from pier.api.routing import Route, api_version, json_response
from pier.api.wire import progress as wire
from pier.distribution import auth as authn
from pier.distribution import manifests as mf
from pier.distribution.progress import Progress
from pier.distribution.pull import PullRequest
from pier.distribution.service import LoginResult
from pier.errors import Forbidden, InvalidParameter
from pier.images.model import ImageRecord
from pier.oci import digest as dg
from pier.oci import reference as refs

AUTH_HEADER = "X-Registry-Auth"


class DistributionProtocol(Protocol):
    async def pull(self, req: PullRequest, progress: Progress) -> None: ...

    async def push(
        self,
        ref: refs.Reference,
        auth: authn.AuthConfig,
        records: builtins.list[ImageRecord],
        progress: Progress,
    ) -> None: ...

    async def inspect(self, ref: refs.Reference, auth: authn.AuthConfig) -> dict[str, Any]: ...

    async def login(self, auth: authn.AuthConfig) -> LoginResult: ...


class ImageListProtocol(Protocol):
    async def list(
        self, *, all: bool = False, filters: Mapping[str, Sequence[str]] | None = None
    ) -> builtins.list[ImageRecord]: ...


def _version_ge(version: str, other: str) -> bool:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".") if p.isdigit())

    return key(version) >= key(other)


def pull_reference(from_image: str, tag: str) -> refs.Reference:
    """moby's postImagesCreate: a trailing `:` (from `pull -a`) is dropped; `tag` may be
    a digest; no tag at all means every tag."""
    ref = refs.parse_normalized(from_image.removesuffix(":"))
    if tag:
        if dg.is_digest(tag):
            ref = refs.Reference(domain=ref.domain, path=ref.path, digest=tag)
        else:
            ref = ref.with_tag(tag)
    if ref.tag and ref.digest:
        ref = refs.Reference(domain=ref.domain, path=ref.path, digest=ref.digest)
    return ref


async def pull(request: web.Request, service: DistributionProtocol) -> web.StreamResponse:
    """The pull half of `POST /images/create` (called by the images router)."""
    ref = pull_reference(request.query.get("fromImage", ""), request.query.get("tag", ""))
    platform = None
    spec = request.query.get("platform", "")
    if spec and _version_ge(api_version(request), "1.32"):
        platform = mf.parse_platform(spec)
    forbid_reserved(ref)
    auth = authn.decode_header(request.headers.get(AUTH_HEADER))
    req = PullRequest(ref=ref, auth=auth, platform=platform)
    return await wire.stream(request, lambda progress: service.pull(req, progress))


def routes(service: DistributionProtocol, images: ImageListProtocol) -> list[Route]:
    async def push(request: web.Request) -> web.StreamResponse:
        header = request.headers.get(AUTH_HEADER)
        # Without the header, the old format: the AuthConfig as the body.
        auth = authn.decode_header(header) if header else authn.parse_body(await request.read())
        name = request.match_info["name"]
        tag = request.query.get("tag", "")
        ref = refs.parse_normalized(name)
        if tag:
            ref = ref.with_tag(tag)
        if ref.digest:
            raise InvalidParameter("cannot push a digest reference")
        records = await images.list()
        return await wire.stream(
            request, lambda progress: service.push(ref, auth, records, progress)
        )

    async def inspect(request: web.Request) -> web.StreamResponse:
        ref = refs.parse_normalized(request.match_info["name"])
        if ref.name_only:
            ref = ref.with_default_tag()
        auth = authn.decode_header(request.headers.get(AUTH_HEADER))
        return json_response(await service.inspect(ref, auth))

    async def login(request: web.Request) -> web.StreamResponse:
        auth = authn.parse_body(await request.read())
        result = await service.login(auth)
        return json_response({"IdentityToken": result.identity_token, "Status": result.status})

    return [
        Route("POST", "/images/{name:.+}/push", push),
        Route("GET", "/distribution/{name:.+}/json", inspect),
        Route("POST", "/auth", login),
    ]


def forbid_reserved(ref: refs.Reference) -> None:
    """moby's validateRepoName: `scratch` is reserved."""
    if ref.familiar_name == "scratch":
        raise Forbidden("'scratch' is a reserved name")
