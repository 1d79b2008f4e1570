"""The daemon's `max-unpack-size` bounds one `docker load` as a whole: an archive of
several images, each under the bound, is refused once together they pass it (each
image's ingest had a budget of its own, so N images wrote N times the bound)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator

import pytest

from pier_testing.custom import CustomDaemon, running
from pier_testing.leaks import Scope

BOUND = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def bounded(leak_scope: Scope) -> Iterator[CustomDaemon]:
    daemon = CustomDaemon(leak_scope, flags=[], config={"max-unpack-size": BOUND})
    with running(daemon, leak_scope):
        yield daemon


def _layer(size: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("data.bin")
        info.size = size
        tf.addfile(info, io.BytesIO(os.urandom(size)))
    return gzip.compress(buf.getvalue(), compresslevel=1)


def _archive(repos: list[str]) -> bytes:
    """One image per repository, each of one layer of 3/4 of the bound."""
    entries: list[tuple[str, bytes]] = []
    manifest = []
    for i, repo in enumerate(repos):
        layer = _layer(BOUND * 3 // 4)
        diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
             "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
        ).encode()  # fmt: skip
        entries += [(f"config{i}.json", config), (f"layer{i}.tar", layer)]
        layers = [f"layer{i}.tar"]
        manifest.append(
            {"Config": f"config{i}.json", "RepoTags": [f"{repo}:latest"], "Layers": layers}
        )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in [("manifest.json", json.dumps(manifest).encode()), *entries]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _load(daemon: CustomDaemon, archive: bytes) -> tuple[int, bytes]:
    resp = daemon.client.open(
        "POST",
        "/images/load",
        params={"quiet": "1"},
        body=archive,
        headers={"Content-Type": "application/x-tar"},
    )
    try:
        return resp.status, resp.read()
    finally:
        resp.close()


def _tags(daemon: CustomDaemon) -> set[str]:
    return {t for image in daemon.client.get_json("/images/json") for t in image["RepoTags"]}


def test_the_bound_is_the_archives_not_each_images(bounded: CustomDaemon) -> None:
    status, body = _load(bounded, _archive(["bound/one", "bound/two"]))
    assert status == 400, body
    assert json.loads(body)["message"] == (
        "invalid layer tar: 'data.bin' takes the upload past the daemon's "
        "max-unpack-size (4194304 bytes)"
    )
    assert "bound/two:latest" not in _tags(bounded)

    status, body = _load(bounded, _archive(["bound/alone"]))
    assert status == 200 and b"errorDetail" not in body, body
    assert "bound/alone:latest" in _tags(bounded)
