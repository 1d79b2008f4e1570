"""Pier's registry server: the OCI distribution spec 1.1 over aiohttp.

Endpoints (spec names): end-1 `GET /v2/`; pulls (end-2/3, `HEAD|GET manifests|blobs`, with
`Range` on blobs); pushes (end-4a/4b/5/6 monolithic and chunked uploads, end-7 manifest
put, end-11 cross-repository mount); content discovery (end-8a/8b tags with `n`/`last`
and a `Link`, end-12a/12b referrers with the `artifactType` filter, plus `_catalog`); content
management (end-9 manifest delete, end-10 blob delete). Uploads are verified against
their digest, manifests must name blobs and manifests the repository has (a referrer's
subject excepted, as the spec allows). Optional: basic auth from an htpasswd file (bcrypt),
read-only mode. File I/O runs in threads.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from pier.distribution import manifests as mf
from pier.distribution.server.storage import (
    Storage,
    StorageError,
    check_digest,
    check_name,
    check_reference,
    is_digest,
)

_CHUNK = 1 << 20
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(code: str, status: int, message: str, detail: Any = None) -> web.Response:
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return web.json_response(body, status=status)


class Htpasswd:
    """Users from an htpasswd file; only bcrypt entries, as distribution."""

    def __init__(self, path: Path) -> None:
        self._users: dict[str, bytes] = {}
        for line in path.read_text().splitlines():
            user, sep, hashed = line.strip().partition(":")
            if sep and user:
                self._users[user] = hashed.encode()

    def check(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        hashed = self._users.get(user)
        if hashed is None:
            return False
        import bcrypt

        try:
            return bool(bcrypt.checkpw(password.encode(), hashed))
        except ValueError:
            return False


def build_app(
    root: Path, *, htpasswd: Path | None = None, read_only: bool = False
) -> web.Application:
    storage = Storage(root)
    users = Htpasswd(htpasswd) if htpasswd is not None else None

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if users is not None and not users.check(request.headers.get("Authorization", "")):
            resp = error("UNAUTHORIZED", 401, "authentication required")
            resp.headers["WWW-Authenticate"] = 'Basic realm="pier-registry"'
            return resp
        if read_only and request.method not in ("GET", "HEAD"):
            return error("UNSUPPORTED", 405, "The operation is unsupported.")
        try:
            response = await handler(request)
        except StorageError as exc:
            response = error(exc.code, exc.status, exc.message, exc.detail)
        response.headers["Docker-Distribution-Api-Version"] = "registry/2.0"
        return response

    def run(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return asyncio.to_thread(fn, *args)

    def name_of(request: web.Request) -> str:
        return check_name(request.match_info["name"])

    async def base(request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    # -- manifests -------------------------------------------------------------------

    async def get_manifest(request: web.Request) -> web.StreamResponse:
        name = name_of(request)
        found = await run(storage.resolve, name, request.match_info["reference"])
        headers = {
            "Content-Type": found.media_type,
            "Docker-Content-Digest": found.digest,
            "Content-Length": str(found.size),
        }
        if request.method == "HEAD":
            return web.Response(status=200, headers=headers)
        body = await run(storage.manifest_bytes, found.digest)
        del headers["Content-Length"]
        return web.Response(status=200, body=body, headers=headers)

    async def put_manifest(request: web.Request) -> web.StreamResponse:
        name = name_of(request)
        reference = check_reference(request.match_info["reference"])
        raw = await request.content.read(mf.MAX_MANIFEST_SIZE + 1)
        if len(raw) > mf.MAX_MANIFEST_SIZE:
            return error("SIZE_INVALID", 413, "manifest too large")
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        doc, media_type, referrer = await run(_check_manifest, storage, name, raw, content_type)
        del doc
        digest = await run(storage.put_manifest, name, reference, raw, media_type, referrer)
        headers = {
            "Location": f"/v2/{name}/manifests/{digest}",
            "Docker-Content-Digest": digest,
        }
        if referrer is not None:
            headers["OCI-Subject"] = _subject_of(raw)
        return web.Response(status=201, headers=headers)

    async def delete_manifest(request: web.Request) -> web.StreamResponse:
        await run(storage.delete_manifest, name_of(request), request.match_info["reference"])
        return web.Response(status=202)

    # -- blobs -----------------------------------------------------------------------

    async def get_blob(request: web.Request) -> web.StreamResponse:
        name = name_of(request)
        digest = check_digest(request.match_info["digest"])
        size = await run(storage.blob_size, name, digest)
        headers = {
            "Docker-Content-Digest": digest,
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
        }
        if request.method == "HEAD":
            headers["Content-Length"] = str(size)
            return web.Response(status=200, headers=headers)
        start, end = 0, size - 1
        status = 200
        rng = request.headers.get("Range", "")
        if rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            try:
                start = int(first) if first else 0
                end = int(last) if last else size - 1
            except ValueError:
                return error("BLOB_UNKNOWN", 416, "invalid range")
            if start > end or (start >= size and size):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
            end = min(end, size - 1)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        stream = web.StreamResponse(status=status, headers=headers)
        stream.content_length = max(0, end - start + 1)
        await stream.prepare(request)
        path = storage.blob_path(digest)
        with open(path, "rb") as f:
            await run(f.seek, start)
            left = end - start + 1
            while left > 0:
                block = await run(f.read, min(_CHUNK, left))
                if not block:
                    break
                left -= len(block)
                await stream.write(block)
        await stream.write_eof()
        return stream

    async def delete_blob(request: web.Request) -> web.StreamResponse:
        digest = check_digest(request.match_info["digest"])
        await run(storage.unlink_blob, name_of(request), digest)
        return web.Response(status=202)

    # -- uploads ---------------------------------------------------------------------

    def upload_headers(name: str, upload_id: str, size: int) -> dict[str, str]:
        return {
            "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
            "Range": f"0-{max(0, size - 1)}",
            "Docker-Upload-UUID": upload_id,
        }

    async def body_chunks(request: web.Request) -> list[bytes]:
        out = []
        while chunk := await request.content.read(_CHUNK):
            out.append(chunk)
        return out

    async def start_upload(request: web.Request) -> web.StreamResponse:
        name = name_of(request)
        mount, source = request.query.get("mount"), request.query.get("from")
        if mount and source:
            digest = check_digest(mount)
            if await run(storage.mount, name, digest, check_name(source)):
                return web.Response(
                    status=201,
                    headers={
                        "Location": f"/v2/{name}/blobs/{digest}",
                        "Docker-Content-Digest": digest,
                    },
                )
        upload_id = await run(storage.start_upload, name)
        digest_q = request.query.get("digest")
        if digest_q:  # monolithic: POST with the whole blob
            digest = check_digest(digest_q)
            chunks = await body_chunks(request)
            await run(storage.append, name, upload_id, iter(chunks), None)
            await run(storage.finish, name, upload_id, digest)
            return web.Response(
                status=201,
                headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest},
            )
        return web.Response(status=202, headers=upload_headers(name, upload_id, 0))

    async def _append(request: web.Request, name: str, upload_id: str) -> int:
        start = None
        content_range = request.headers.get("Content-Range", "")
        if content_range:
            first = content_range.removeprefix("bytes ").partition("-")[0]
            try:
                start = int(first)
            except ValueError:
                raise StorageError("BLOB_UPLOAD_INVALID", 416, "blob upload invalid") from None
        size = await run(storage.upload_size, name, upload_id)
        if start is not None and start != size:
            raise StorageError("BLOB_UPLOAD_INVALID", 416, "blob upload invalid")
        # Stream to disk: a chunk is appended as it arrives, never held whole.
        while chunk := await request.content.read(_CHUNK):
            size = await run(storage.append, name, upload_id, iter([chunk]), None)
        return int(size)

    async def patch_upload(request: web.Request) -> web.StreamResponse:
        name = name_of(request)
        upload_id = request.match_info["uuid"]
        size = await _append(request, name, upload_id)
        return web.Response(status=202, headers=upload_headers(name, upload_id, size))

    async def put_upload(request: web.Request) -> web.StreamResponse:
        name = name_of(request)
        upload_id = request.match_info["uuid"]
        digest = check_digest(request.query.get("digest", ""))
        await _append(request, name, upload_id)
        await run(storage.finish, name, upload_id, digest)
        return web.Response(
            status=201,
            headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest},
        )

    async def get_upload(request: web.Request) -> web.StreamResponse:
        name = name_of(request)
        upload_id = request.match_info["uuid"]
        size = await run(storage.upload_size, name, upload_id)
        return web.Response(status=204, headers=upload_headers(name, upload_id, size))

    async def delete_upload(request: web.Request) -> web.StreamResponse:
        await run(storage.cancel, name_of(request), request.match_info["uuid"])
        return web.Response(status=204)

    # -- discovery -------------------------------------------------------------------

    async def tags(request: web.Request) -> web.StreamResponse:
        name = name_of(request)
        items = await run(storage.tags, name)
        page, link = _paginate(request, items, f"/v2/{name}/tags/list")
        resp = web.json_response({"name": name, "tags": page})
        if link:
            resp.headers["Link"] = link
        return resp

    async def catalog(request: web.Request) -> web.StreamResponse:
        items = await run(storage.catalog)
        page, link = _paginate(request, items, "/v2/_catalog")
        resp = web.json_response({"repositories": page})
        if link:
            resp.headers["Link"] = link
        return resp

    async def referrers(request: web.Request) -> web.StreamResponse:
        name = name_of(request)
        digest = check_digest(request.match_info["digest"])
        items = await run(storage.referrers, name, digest)
        wanted = request.query.get("artifactType")
        headers = {}
        if wanted:
            items = [i for i in items if i.get("artifactType") == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        body = {"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": items}
        return web.Response(
            body=json.dumps(body).encode(),
            content_type=mf.OCI_INDEX,
            headers=headers,
        )

    app = web.Application(middlewares=[guard], client_max_size=mf.MAX_MANIFEST_SIZE)
    name = "{name:[a-z0-9][a-z0-9._/-]*}"
    r = app.router
    r.add_get("/v2/", base)
    r.add_get("/v2/_catalog", catalog)
    r.add_get(f"/v2/{name}/tags/list", tags)
    r.add_get(f"/v2/{name}/referrers/{{digest}}", referrers)
    r.add_route("GET", f"/v2/{name}/manifests/{{reference}}", get_manifest)
    r.add_route("HEAD", f"/v2/{name}/manifests/{{reference}}", get_manifest)
    r.add_put(f"/v2/{name}/manifests/{{reference}}", put_manifest)
    r.add_delete(f"/v2/{name}/manifests/{{reference}}", delete_manifest)
    r.add_post(f"/v2/{name}/blobs/uploads/", start_upload)
    r.add_patch(f"/v2/{name}/blobs/uploads/{{uuid}}", patch_upload)
    r.add_put(f"/v2/{name}/blobs/uploads/{{uuid}}", put_upload)
    r.add_get(f"/v2/{name}/blobs/uploads/{{uuid}}", get_upload)
    r.add_delete(f"/v2/{name}/blobs/uploads/{{uuid}}", delete_upload)
    r.add_route("GET", f"/v2/{name}/blobs/{{digest}}", get_blob)
    r.add_route("HEAD", f"/v2/{name}/blobs/{{digest}}", get_blob)
    r.add_delete(f"/v2/{name}/blobs/{{digest}}", delete_blob)
    return app


def _paginate(request: web.Request, items: list[str], path: str) -> tuple[list[str], str]:
    last = request.query.get("last", "")
    if last:
        items = [i for i in items if i > last]
    n_raw = request.query.get("n")
    if n_raw is None or n_raw == "":
        return items, ""
    try:
        n = int(n_raw)
    except ValueError:
        raise StorageError(
            "PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested"
        ) from None
    if n < 0:
        raise StorageError("PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested")
    page = items[:n]
    if len(items) > n and page:
        return page, f'<{path}?n={n}&last={page[-1]}>; rel="next"'
    return page, ""


def _subject_of(raw: bytes) -> str:
    return str(json.loads(raw)["subject"]["digest"])


def _check_manifest(
    storage: Storage, name: str, raw: bytes, content_type: str
) -> tuple[Any, str, dict[str, Any] | None]:
    """Parse and check a pushed manifest: (doc, media type, referrer descriptor or None)."""
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise StorageError("MANIFEST_INVALID", 400, "manifest invalid") from None
    if not isinstance(doc, dict):
        raise StorageError("MANIFEST_INVALID", 400, "manifest invalid")
    media_type = str(doc.get("mediaType") or content_type or mf.OCI_MANIFEST)
    if doc.get("mediaType") and content_type and doc["mediaType"] != content_type:
        raise StorageError("MANIFEST_INVALID", 400, "manifest invalid", "media type mismatch")
    try:
        if "manifests" in doc:
            for m in doc["manifests"]:
                storage.resolve(name, check_digest(str(m["digest"])))
        else:
            for blob in [doc["config"], *doc.get("layers", [])]:
                if (
                    str(blob.get("mediaType", "")).startswith(mf.OCI_NONDIST_PREFIX)
                    or blob.get("mediaType") == mf.DOCKER_FOREIGN_LAYER
                ):
                    continue
                size = storage.blob_size(name, check_digest(str(blob["digest"])))
                if size != int(blob["size"]):
                    raise StorageError("MANIFEST_INVALID", 400, "manifest invalid", "size mismatch")
    except (KeyError, TypeError, ValueError):
        raise StorageError("MANIFEST_INVALID", 400, "manifest invalid") from None
    except StorageError as exc:
        if exc.code in ("BLOB_UNKNOWN", "MANIFEST_UNKNOWN", "NAME_UNKNOWN"):
            raise StorageError(
                "MANIFEST_BLOB_UNKNOWN", 400, "blob unknown to registry", exc.detail
            ) from None
        raise
    referrer = None
    subject = doc.get("subject")
    if isinstance(subject, dict) and is_digest(str(subject.get("digest", ""))):
        artifact = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType", "")
        referrer = {
            "subject": subject["digest"],
            "mediaType": media_type,
            "digest": "sha256:" + hashlib.sha256(raw).hexdigest(),
            "size": len(raw),
            "artifactType": artifact,
        }
        if doc.get("annotations"):
            referrer["annotations"] = doc["annotations"]
    return doc, media_type, referrer
