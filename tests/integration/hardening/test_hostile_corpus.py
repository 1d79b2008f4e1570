"""The hostile-archive corpus (pier_testing.hostile) through every path that unpacks:
`import`, `load`, `pull` (from Debian's docker-registry on loopback), a build context
and `cp` into a container. Broken archives are refused (a 4xx, or an error in the
stream once a pull or build has begun) and nothing lands outside a layer or a
container's root; archives that are legal but dangerous (device nodes, setuid files,
FIFOs, sparse giants, duplicates, absolute names, symlinks aiming out) are taken and
kept inside."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import secrets
import tarfile
import urllib.request

import pytest

from pier.client.api import Client
from pier_testing.api import create
from pier_testing.daemon import PierDaemon
from pier_testing.hostile import (
    CORPUS,
    LAYER_PATHS,
    Case,
    cleanup,
    escapes,
    in_layers,
    plant,
)
from pier_testing.registry import DistributionRegistry


def _answer(client: Client, method: str, path: str, **kwargs: object) -> tuple[int, bytes]:
    resp = client.open(method, path, **kwargs)  # type: ignore[arg-type]
    try:
        return resp.status, resp.read()
    finally:
        resp.close()


def _refused(status: int, body: bytes) -> bool:
    if 400 <= status < 500:
        return True
    return status == 200 and b'"errorDetail"' in body


def _is_gzip(data: bytes) -> bool:
    return data[:2] == b"\x1f\x8b"


def _diff_id(layer: bytes) -> str:
    try:
        raw = gzip.decompress(layer) if _is_gzip(layer) else layer
    except (OSError, EOFError):
        raw = layer  # broken on purpose: the loader must find out itself
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _config(layer: bytes) -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [_diff_id(layer)]},
        }
    ).encode()


def _via_import(pier: PierDaemon, layer: bytes, token: str) -> tuple[int, bytes]:
    return _answer(
        pier.client,
        "POST",
        "/images/create",
        params={"fromSrc": "-", "repo": f"hostile-{token}", "tag": "latest"},
        body=layer,
        headers={"Content-Type": "application/x-tar"},
    )


def _via_load(pier: PierDaemon, layer: bytes, token: str) -> tuple[int, bytes]:
    config = _config(layer)
    manifest = [{"Config": "config.json", "RepoTags": [f"hostile-{token}:latest"],
                 "Layers": ["layer.tar"]}]  # fmt: skip
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (
            ("manifest.json", json.dumps(manifest).encode()),
            ("config.json", config),
            ("layer.tar", layer),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return _answer(
        pier.client,
        "POST",
        "/images/load",
        params={"quiet": "1"},
        body=buf.getvalue(),
        headers={"Content-Type": "application/x-tar"},
    )


def _via_pull(
    pier: PierDaemon, layer: bytes, token: str, registry: DistributionRegistry
) -> tuple[int, bytes]:
    repo = f"hostile-{token}"
    config = _config(layer)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": registry.push_blob(repo, config), "size": len(config)},
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar"
            + ("+gzip" if _is_gzip(layer) else ""),
            "digest": registry.push_blob(repo, layer),
            "size": len(layer),
        }],
    }  # fmt: skip
    put = urllib.request.Request(
        registry.url(f"/v2/{repo}/manifests/latest"),
        data=json.dumps(manifest).encode(),
        method="PUT",
    )
    put.add_header("Content-Type", manifest["mediaType"])  # type: ignore[arg-type]
    with urllib.request.urlopen(put, timeout=30):
        pass
    return _answer(
        pier.client,
        "POST",
        "/images/create",
        params={"fromImage": f"{registry.address}/{repo}", "tag": "latest"},
        headers={"X-Registry-Auth": "e30="},
    )


def _via_build(pier: PierDaemon, context: bytes, token: str) -> tuple[int, bytes]:
    return _answer(
        pier.client,
        "POST",
        "/build",
        params={"t": f"hostile-{token}:latest", "rm": "1", "forcerm": "1"},
        body=context,
        headers={"Content-Type": "application/x-tar"},
    )


def _via_cp(pier: PierDaemon, archive: bytes, token: str) -> tuple[int, bytes]:
    cid = create(pier.client, ["true"], name=f"hostile-{token}")
    return _answer(
        pier.client,
        "PUT",
        f"/containers/{cid}/archive",
        params={"path": "/tmp", "noOverwriteDirNonDir": "true"},
        body=archive,
        headers={"Content-Type": "application/x-tar"},
    )


PATHS = ("import", "load", "pull", "build", "cp")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_hostile_archive(
    pier: PierDaemon, registry: DistributionRegistry, case: Case, path: str
) -> None:
    token = f"hx{secrets.token_hex(4)}"
    plant(token)
    hostname_links = os.stat("/etc/hostname").st_nlink
    snapshots = pier.data_root / "snapshots"
    before = {p.name for p in snapshots.iterdir()}
    try:
        archive = case.build(token, path == "build")
        if path == "import":
            status, body = _via_import(pier, archive, token)
        elif path == "load":
            status, body = _via_load(pier, archive, token)
        elif path == "pull":
            status, body = _via_pull(pier, archive, token, registry)
        elif path == "build":
            status, body = _via_build(pier, archive, token)
        else:
            status, body = _via_cp(pier, archive, token)
        assert status < 500, body[-2000:]
        refused = _refused(status, body)
        if path in case.refused_by:
            assert refused, (status, body[-2000:])
            if path in LAYER_PATHS:
                assert case.said.encode() in body, body[-2000:]
                # Nothing half-made: no new snapshot, no image.
                assert {p.name for p in snapshots.iterdir()} == before
                tags = [
                    t for i in pier.client.get_json("/images/json") for t in i["RepoTags"] or ()
                ]
                assert not [t for t in tags if token in t]
        pier.removals_done()
        assert escapes(token, pier.base) == [], body[-2000:]
        assert os.stat("/etc/hostname").st_nlink == hostname_links
        if case.found is not None or case.sparse:
            # A harmless archive every path must take: a refusal here (as a sparse
            # COPY's EXDEV once was) must not pass by skipping the content check.
            assert not refused, (status, body[-2000:])
            files = in_layers(token, pier.base)
            assert files, body[-2000:]
            if case.found is not None:
                assert {f.read_bytes() for f in files} == {case.found}
            if case.sparse:
                for f in files:
                    st = f.stat()
                    assert st.st_size == 2 * 1024**3
                    assert st.st_blocks * 512 < 1024 * 1024  # holes kept
    finally:
        cleanup(token)
        for image in pier.client.get_json("/images/json"):
            if any(token in tag for tag in image.get("RepoTags") or ()):
                pier.client.delete(f"/images/{image['Id']}", force=1)
