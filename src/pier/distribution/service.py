"""DistributionService: pull, push, login and distribution inspect, for the API.

Owns the registry client (its HTTP session and token cache) and the blob downloader
(which dedups concurrent downloads of one blob); `close()` ends the session. The image
service is reached through the `ImageBackend` protocol only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pier.distribution import manifests as mf
from pier.distribution.auth import AuthConfig, parse_challenges
from pier.distribution.backend import ImageBackend
from pier.distribution.client import RegistryCallFailed, RegistryClient, fetch_token
from pier.distribution.fetch import BlobDownloader, get_manifest
from pier.distribution.hosts import DEFAULT_CERTS_DIRS, DOCKER_HUB_HOST, RegistryHosts
from pier.distribution.progress import Progress
from pier.distribution.pull import Puller, PullRequest, not_found
from pier.distribution.push import Pusher, PushRequest
from pier.errors import InvalidParameter, Unauthorized, Unavailable
from pier.images.model import ImageRecord
from pier.oci import reference as refs

__all__ = ["DistributionService", "PullRequest", "PushRequest"]

_HUB_ADDRESSES = ("", "docker.io", "index.docker.io", "https://index.docker.io/v1/",
                  "registry-1.docker.io")  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginResult:
    status: str
    identity_token: str


class DistributionService:
    def __init__(
        self,
        *,
        images: ImageBackend,
        tmp_dir: Path,
        insecure_registries: Sequence[str] = (),
        mirrors: Sequence[str] = (),
        certs_dirs: Sequence[Path] = DEFAULT_CERTS_DIRS,
        connect_timeout: float = 15.0,
        read_timeout: float = 60.0,
        upload_chunk_size: int = 0,
    ) -> None:
        self._images = images
        self._certs_dirs = tuple(certs_dirs)
        hosts = RegistryHosts(
            insecure_registries=insecure_registries, mirrors=mirrors, certs_dirs=certs_dirs
        )
        self._client = RegistryClient(
            hosts=hosts, connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        downloader = BlobDownloader(content=images.content)
        self._puller = Puller(client=self._client, images=images, downloader=downloader)
        self._pusher = Pusher(client=self._client, images=images, tmp_dir=tmp_dir)
        self._chunk_size = upload_chunk_size

    async def close(self) -> None:
        await self._client.close()

    def reconfigure(self, *, insecure_registries: Sequence[str], mirrors: Sequence[str]) -> None:
        """A reload's registry settings: pulls and pushes started from now on use them."""
        self._client.hosts = RegistryHosts(
            insecure_registries=insecure_registries, mirrors=mirrors, certs_dirs=self._certs_dirs
        )

    async def pull(self, req: PullRequest, progress: Progress) -> None:
        await self._puller.pull(req, progress)

    async def push(
        self, ref: refs.Reference, auth: AuthConfig, records: list[ImageRecord], progress: Progress
    ) -> None:
        req = PushRequest(ref=ref, auth=auth, chunk_size=self._chunk_size)
        await self._pusher.push(req, records, progress)

    async def inspect(self, ref: refs.Reference, auth: AuthConfig) -> dict[str, Any]:
        """`GET /distribution/{name}/json`: the descriptor the reference resolves to and
        the platforms it offers (moby's DistributionInspect)."""
        repos = await self._puller.open(ref, auth, "pull")
        repo = repos[-1]
        try:
            raw, content_type, digest = await get_manifest(repo, ref.digest or ref.tag or "latest")
        except RegistryCallFailed as exc:
            raise not_found(exc, ref) from exc
        doc = mf.parse(raw, content_type)
        descriptor = {"mediaType": doc.media_type, "digest": digest, "size": len(raw)}
        if isinstance(doc, mf.Index):
            platforms = [p.to_json() for p in doc.platforms()]
        else:
            from pier.distribution.fetch import get_small_blob
            from pier.oci.image import ImageSpec

            spec = ImageSpec.from_bytes(await get_small_blob(repo, doc.config, mf.MAX_CONFIG_SIZE))
            plat = mf.Platform(os=spec.os, architecture=spec.architecture, variant=spec.variant)
            platforms = [plat.to_json()]
        return {"Descriptor": descriptor, "Platforms": platforms}

    async def login(self, auth: AuthConfig) -> LoginResult:
        """`POST /auth`: check the credentials against the registry's `/v2/` (following
        its challenge); a token server's refresh token comes back as IdentityToken."""
        address = auth.server_address.strip()
        if address in _HUB_ADDRESSES:
            host = DOCKER_HUB_HOST
        else:
            host = address.split("://", 1)[-1].split("/", 1)[0]
            if not host:
                raise InvalidParameter(f"unable to parse server address {address!r}")
        endpoints = await self._client.endpoints(host if host != DOCKER_HUB_HOST else "docker.io")
        endpoint = [e for e in endpoints if not e.mirror][-1]
        base = await self._client.base_url(endpoint)
        url = base + "/v2/"
        session = self._client.session()
        ssl = await self._client.ssl_for(endpoint, base)
        try:
            async with session.get(url, ssl=ssl) as resp:
                await resp.read()
                status = resp.status
                challenges = parse_challenges(resp.headers.getall("WWW-Authenticate", []))
            token = ""
            if status == 401:
                bearer = next((c for c in challenges if c.scheme == "bearer"), None)
                if bearer is not None:
                    body = await fetch_token(session, bearer, [], auth, offline=True)
                    token = str(body.get("refresh_token") or "")
                    value = str(body.get("token") or body.get("access_token") or "")
                    headers = {"Authorization": "Bearer " + value}
                else:
                    from pier.distribution.auth import basic_header

                    headers = {"Authorization": basic_header(*auth.credentials())}
                async with session.get(url, ssl=ssl, headers=headers) as again:
                    await again.read()
                    status = again.status
        except (OSError, TimeoutError) as exc:
            raise Unavailable(f'Get "{url}": {exc}') from exc
        if status != 200:
            from http import HTTPStatus

            raise Unauthorized(
                f"login attempt to {url} failed with status: {status} {HTTPStatus(status).phrase}"
            )
        return LoginResult(status="Login Succeeded", identity_token=token)
