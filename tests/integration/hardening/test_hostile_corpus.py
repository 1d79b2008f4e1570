"""The hostile-archive corpus (pier_testing.hostile) through every path that unpacks:
`import`, `load`, `pull` (from Debian's docker-registry on loopback), a build context
and `cp` into a container. Broken archives are refused (a 4xx, or an error in the
stream once a pull or build has begun) and nothing lands outside a layer or a
container's root; archives that are legal but dangerous (device nodes, setuid files,
FIFOs, sparse giants, duplicates, absolute names, symlinks aiming out) are taken and
kept inside."""

from __future__ import annotations

import os
import secrets

import pytest

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
from pier_testing.layer_paths import answer, load_layers, pull_layer
from pier_testing.registry import DistributionRegistry


def _refused(status: int, body: bytes) -> bool:
    if 400 <= status < 500:
        return True
    return status == 200 and b'"errorDetail"' in body


def _via_import(pier: PierDaemon, layer: bytes, token: str) -> tuple[int, bytes]:
    return answer(
        pier.client,
        "POST",
        "/images/create",
        params={"fromSrc": "-", "repo": f"hostile-{token}", "tag": "latest"},
        body=layer,
        headers={"Content-Type": "application/x-tar"},
    )


def _via_load(pier: PierDaemon, layer: bytes, token: str) -> tuple[int, bytes]:
    return load_layers(pier.client, f"hostile-{token}", layer)


def _via_pull(
    pier: PierDaemon, layer: bytes, token: str, registry: DistributionRegistry
) -> tuple[int, bytes]:
    return pull_layer(pier.client, f"hostile-{token}", layer, registry)


def _via_build(pier: PierDaemon, context: bytes, token: str) -> tuple[int, bytes]:
    return answer(
        pier.client,
        "POST",
        "/build",
        params={"t": f"hostile-{token}:latest", "rm": "1", "forcerm": "1"},
        body=context,
        headers={"Content-Type": "application/x-tar"},
    )


def _via_cp(pier: PierDaemon, archive: bytes, token: str) -> tuple[int, bytes]:
    cid = create(pier.client, ["true"], name=f"hostile-{token}")
    return answer(
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
