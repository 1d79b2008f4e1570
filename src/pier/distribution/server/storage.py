"""The registry server's storage: plain files under one root, blocking (the app calls it
in threads).

Layout (distribution's idea, Pier's files):
  blobs/sha256/<hex>                          content, written once, verified
  repositories/<name>/layers/<hex>            the blob is part of the repository
  repositories/<name>/manifests/<hex>         a manifest revision; its media type inside
  repositories/<name>/tags/<tag>              the digest the tag points at
  repositories/<name>/referrers/<subject hex>/<hex>   descriptor JSON of a referrer
  uploads/<uuid>/data, uploads/<uuid>/repo    an upload in progress

Every name, tag, digest and upload id is checked against the spec's grammar before it
becomes a path, so none can walk out of the root.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAME_RE = re.compile(
    r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$"
)
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
UUID_RE = re.compile(r"^[a-f0-9]{32}$")
_CHUNK = 1 << 20


class StorageError(Exception):
    """An OCI distribution error: its code, HTTP status and message (rendered by the app)."""

    def __init__(self, code: str, status: int, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.detail = detail


def check_name(name: str) -> str:
    if len(name) > 255 or not NAME_RE.match(name):
        raise StorageError("NAME_INVALID", 400, "invalid repository name", {"name": name})
    return name


def check_digest(digest: str) -> str:
    if not DIGEST_RE.match(digest):
        raise StorageError("DIGEST_INVALID", 400, "provided digest did not match uploaded content")
    return digest


def is_digest(reference: str) -> bool:
    return bool(DIGEST_RE.match(reference))


def check_reference(reference: str) -> str:
    if is_digest(reference) or TAG_RE.match(reference):
        return reference
    if ":" in reference:
        raise StorageError("DIGEST_INVALID", 400, "provided digest did not match uploaded content")
    raise StorageError("TAG_INVALID", 400, "manifest tag did not match URI", {"tag": reference})


def _hex(digest: str) -> str:
    return check_digest(digest).split(":", 1)[1]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredManifest:
    digest: str
    media_type: str
    size: int


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.repos = root / "repositories"
        self.uploads = root / "uploads"
        for d in (self.blobs, self.repos, self.uploads):
            d.mkdir(parents=True, exist_ok=True)

    # -- paths -----------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / _hex(digest)

    def repo(self, name: str) -> Path:
        return self.repos / check_name(name)

    def repo_exists(self, name: str) -> bool:
        return self.repo(name).is_dir()

    # -- blobs -----------------------------------------------------------------------

    def blob_size(self, name: str, digest: str) -> int:
        """Size of a blob linked into `name`; BLOB_UNKNOWN otherwise."""
        if not (self.repo(name) / "layers" / _hex(digest)).exists():
            raise StorageError("BLOB_UNKNOWN", 404, "blob unknown to registry", {"digest": digest})
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            raise StorageError(
                "BLOB_UNKNOWN", 404, "blob unknown to registry", {"digest": digest}
            ) from None

    def link_blob(self, name: str, digest: str) -> None:
        layers = self.repo(name) / "layers"
        layers.mkdir(parents=True, exist_ok=True)
        (layers / _hex(digest)).touch()

    def unlink_blob(self, name: str, digest: str) -> None:
        link = self.repo(name) / "layers" / _hex(digest)
        try:
            link.unlink()
        except FileNotFoundError:
            raise StorageError(
                "BLOB_UNKNOWN", 404, "blob unknown to registry", {"digest": digest}
            ) from None

    def mount(self, name: str, digest: str, source: str) -> bool:
        """Link a blob of `source` into `name`; False when `source` lacks it."""
        try:
            self.blob_size(source, digest)
        except StorageError:
            return False
        self.link_blob(name, digest)
        return True

    # -- uploads ---------------------------------------------------------------------

    def start_upload(self, name: str) -> str:
        check_name(name)
        upload_id = uuid.uuid4().hex
        d = self.uploads / upload_id
        d.mkdir()
        (d / "repo").write_text(name)
        (d / "data").touch()
        return upload_id

    def _upload_dir(self, name: str, upload_id: str) -> Path:
        if not UUID_RE.match(upload_id):
            raise StorageError("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry")
        d = self.uploads / upload_id
        try:
            owner = (d / "repo").read_text()
        except FileNotFoundError:
            raise StorageError(
                "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"
            ) from None
        if owner != name:
            raise StorageError("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry")
        return d

    def upload_size(self, name: str, upload_id: str) -> int:
        return (self._upload_dir(name, upload_id) / "data").stat().st_size

    def append(self, name: str, upload_id: str, chunks: Iterator[bytes], start: int | None) -> int:
        """Append to an upload (at `start`, which must be its current size when given);
        returns the new size."""
        path = self._upload_dir(name, upload_id) / "data"
        size = path.stat().st_size
        if start is not None and start != size:
            raise StorageError("BLOB_UPLOAD_INVALID", 416, "blob upload invalid", {"offset": size})
        with path.open("ab") as f:
            for chunk in chunks:
                f.write(chunk)
            return f.tell()

    def finish(self, name: str, upload_id: str, digest: str) -> None:
        """Verify the upload against `digest` and make it a blob of `name`."""
        check_digest(digest)
        d = self._upload_dir(name, upload_id)
        data = d / "data"
        h = hashlib.sha256()
        with data.open("rb") as f:
            while block := f.read(_CHUNK):
                h.update(block)
        if "sha256:" + h.hexdigest() != digest:
            shutil.rmtree(d, ignore_errors=True)
            raise StorageError(
                "DIGEST_INVALID", 400, "provided digest did not match uploaded content"
            )
        target = self.blob_path(digest)
        if not target.exists():
            os.replace(data, target)
        shutil.rmtree(d, ignore_errors=True)
        self.link_blob(name, digest)

    def cancel(self, name: str, upload_id: str) -> None:
        shutil.rmtree(self._upload_dir(name, upload_id), ignore_errors=True)

    def put_blob(self, name: str, digest: str, data: bytes) -> None:
        upload_id = self.start_upload(name)
        self.append(name, upload_id, iter([data]), None)
        self.finish(name, upload_id, digest)

    # -- manifests -------------------------------------------------------------------

    def resolve(self, name: str, reference: str) -> StoredManifest:
        check_reference(reference)
        repo = self.repo(name)
        digest = reference
        if not is_digest(reference):
            try:
                digest = (repo / "tags" / reference).read_text().strip()
            except FileNotFoundError:
                raise self._unknown(name, reference) from None
        try:
            media_type = (repo / "manifests" / _hex(digest)).read_text()
            size = self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            raise self._unknown(name, reference) from None
        return StoredManifest(digest=digest, media_type=media_type, size=size)

    def _unknown(self, name: str, reference: str) -> StorageError:
        if not self.repo_exists(name):
            return StorageError("NAME_UNKNOWN", 404, "repository name not known to registry")
        return StorageError("MANIFEST_UNKNOWN", 404, "manifest unknown", {"reference": reference})

    def put_manifest(
        self,
        name: str,
        reference: str,
        raw: bytes,
        media_type: str,
        referrer: dict[str, Any] | None,
    ) -> str:
        """Store a verified manifest; returns its digest. `referrer` is its descriptor
        when it names a subject (under the subject's digest)."""
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if is_digest(reference) and reference != digest:
            raise StorageError(
                "DIGEST_INVALID", 400, "provided digest did not match uploaded content"
            )
        check_reference(reference)
        target = self.blob_path(digest)
        if not target.exists():
            tmp = self.uploads / f"manifest-{uuid.uuid4().hex}"
            tmp.write_bytes(raw)
            os.replace(tmp, target)
        repo = self.repo(name)
        (repo / "manifests").mkdir(parents=True, exist_ok=True)
        (repo / "manifests" / _hex(digest)).write_text(media_type)
        if not is_digest(reference):
            (repo / "tags").mkdir(exist_ok=True)
            tmp_tag = repo / "tags" / f".{reference}.{uuid.uuid4().hex}"
            tmp_tag.write_text(digest)
            os.replace(tmp_tag, repo / "tags" / reference)
        if referrer is not None:
            subject = _hex(str(referrer.pop("subject")))
            d = repo / "referrers" / subject
            d.mkdir(parents=True, exist_ok=True)
            (d / _hex(digest)).write_text(json.dumps(referrer))
        return digest

    def delete_manifest(self, name: str, reference: str) -> None:
        repo = self.repo(name)
        if not is_digest(reference):
            self.resolve(name, reference)
            (repo / "tags" / reference).unlink()
            return
        self.resolve(name, reference)
        (repo / "manifests" / _hex(reference)).unlink()
        for tag in self.tags(name):
            with contextlib.suppress(FileNotFoundError):
                if (repo / "tags" / tag).read_text().strip() == reference:
                    (repo / "tags" / tag).unlink()
        for d in (repo / "referrers").glob("*") if (repo / "referrers").is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                (d / _hex(reference)).unlink()

    def tags(self, name: str) -> list[str]:
        tags = self.repo(name) / "tags"
        if not self.repo_exists(name):
            raise StorageError("NAME_UNKNOWN", 404, "repository name not known to registry")
        if not tags.is_dir():
            return []
        return sorted(p.name for p in tags.iterdir() if not p.name.startswith("."))

    def catalog(self) -> list[str]:
        out = []
        for dirpath, dirnames, _ in os.walk(self.repos):
            if "manifests" in dirnames or "layers" in dirnames:
                out.append(os.path.relpath(dirpath, self.repos))
            for skip in ("manifests", "layers", "tags", "referrers"):
                if skip in dirnames:
                    dirnames.remove(skip)
        return sorted(out)

    def referrers(self, name: str, digest: str) -> list[dict[str, Any]]:
        d = self.repo(name) / "referrers" / _hex(digest)
        if not d.is_dir():
            return []
        out = []
        for entry in sorted(d.iterdir()):
            with contextlib.suppress(FileNotFoundError, ValueError):
                out.append(json.loads(entry.read_text()))
        return out

    def manifest_bytes(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()
