"""`pier registry gc`: remove the blobs no manifest of any repository references.

Mark: every manifest revision of every repository (tagged or not, as distribution's
garbage-collect without --delete-untagged), its config and layers, an index's
manifests, and a referrer's own blobs. Sweep: blobs not marked, then repository links
to blobs that are gone, and uploads older than `upload_age` seconds. Run it while the
server is stopped or read-only: a push racing with a sweep can lose a blob (the same
rule as distribution's).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from dataclasses import dataclass

from pier.distribution.server.storage import DIGEST_RE, Storage


@dataclass(frozen=True, slots=True, kw_only=True)
class GcResult:
    kept: int
    removed: tuple[str, ...]


def collect(storage: Storage, *, dry_run: bool = False, upload_age: float = 86400) -> GcResult:
    marked: set[str] = set()
    for repo in storage.catalog():
        manifests = storage.repo(repo) / "manifests"
        if not manifests.is_dir():
            continue
        for entry in manifests.iterdir():
            _mark(storage, "sha256:" + entry.name, marked)
    removed = []
    for blob in storage.blobs.iterdir():
        digest = "sha256:" + blob.name
        if digest in marked or not DIGEST_RE.match(digest):
            continue
        removed.append(digest)
        if not dry_run:
            blob.unlink()
    if not dry_run:
        for repo in storage.catalog():
            layers = storage.repo(repo) / "layers"
            for link in layers.iterdir() if layers.is_dir() else ():
                if not (storage.blobs / link.name).exists():
                    link.unlink()
        cutoff = time.time() - upload_age
        for upload in storage.uploads.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if upload.stat().st_mtime < cutoff:
                    shutil.rmtree(upload, ignore_errors=True)
    return GcResult(kept=len(marked), removed=tuple(sorted(removed)))


def _mark(storage: Storage, digest: str, marked: set[str]) -> None:
    if digest in marked or not DIGEST_RE.match(digest):
        return
    marked.add(digest)
    try:
        doc = json.loads(storage.manifest_bytes(digest))
    except (FileNotFoundError, ValueError):
        return
    if not isinstance(doc, dict):
        return
    for child in doc.get("manifests") or ():
        if isinstance(child, dict):
            _mark(storage, str(child.get("digest", "")), marked)
    for blob in [doc.get("config"), *(doc.get("layers") or ()), *(doc.get("blobs") or ())]:
        if isinstance(blob, dict) and DIGEST_RE.match(str(blob.get("digest", ""))):
            marked.add(str(blob["digest"]))
