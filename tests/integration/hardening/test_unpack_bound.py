"""The daemon's `max-unpack-size` (issue 16, point 4): what one import, load or pull
(its layers together), or one build context, may write. A pierd started with a 4 MiB bound
refuses a small gzip holding 8 MiB of data with a 400 in the layer applier's words (an
error in the stream once a pull has begun), leaving no snapshot, image, context
directory or temporary file; a 2 GiB sparse file holding a few bytes passes, its holes
not counted. `docker cp` is not bounded, as dockerd's. Without the key the bound is
64 GiB, far above the small cases."""

from __future__ import annotations

import gzip
import io
import json
import os
import secrets
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier.config import DaemonConfig, load_config_file
from pier.errors import InvalidParameter
from pier_testing.api import create
from pier_testing.custom import CustomDaemon, running
from pier_testing.daemon import PierDaemon
from pier_testing.layer_paths import answer, load_layers, pull_layer
from pier_testing.leaks import Scope
from pier_testing.registry import DistributionRegistry

BOUND = 4 * 1024 * 1024  # busybox, imported at start, writes 2 MiB
SAID = b"max-unpack-size (4194304 bytes)"
PATHS = ("import", "load", "pull", "build")


@pytest.fixture(scope="module")
def bounded(leak_scope: Scope, busybox_tar: Path) -> Iterator[CustomDaemon]:
    daemon = CustomDaemon(leak_scope, flags=[], config={"max-unpack-size": BOUND})
    with running(daemon, leak_scope, busybox_tar):
        yield daemon


def _tar(files: dict[str, bytes], *, dockerfile: bool) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        if dockerfile:
            files = {"Dockerfile": b"FROM scratch\nCOPY . /\n", **files}
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue())


def _too_big(dockerfile: bool) -> bytes:
    # Twice the bound in data that is not zeros (zero runs are holes in a build context), split
    # over two files each under the bound: the bound is per archive, not per file.
    return _tar(
        {"a": b"x" * (BOUND * 3 // 4), "b": b"y" * (BOUND * 3 // 4), "c": b"z" * (BOUND // 2)},
        dockerfile=dockerfile,
    )


def _sparse(dockerfile: bool) -> bytes:
    """GNU tar's PAX sparse format: a 2 GiB file holding 13 bytes, and 512 KiB beside."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "giant"), "wb") as fh:
            fh.truncate(2 * 1024**3)
            fh.seek(1024**3)
            fh.write(b"sparse giant\n")
        Path(tmp, "half").write_bytes(b"h" * (BOUND // 2))
        if dockerfile:
            Path(tmp, "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
        out = subprocess.run(
            ["tar", "--sparse", "--format=posix", "-C", tmp, "-cf", "-", "."],
            check=True,
            capture_output=True,
        ).stdout
    return gzip.compress(out)


def _send(
    pier: PierDaemon,
    path: str,
    archive: bytes,
    repo: str,
    registry: DistributionRegistry | None,
) -> tuple[int, bytes]:
    client = pier.client
    if path == "import":
        return answer(
            client,
            "POST",
            "/images/create",
            params={"fromSrc": "-", "repo": repo, "tag": "latest"},
            body=archive,
            headers={"Content-Type": "application/x-tar"},
        )
    if path == "load":
        return load_layers(client, repo, archive)
    if path == "pull":
        assert registry is not None
        return pull_layer(client, repo, archive, registry)
    return answer(
        client,
        "POST",
        "/build",
        params={"t": f"{repo}:latest", "rm": "1", "forcerm": "1"},
        body=archive,
        headers={"Content-Type": "application/x-tar"},
    )


def _state(pier: PierDaemon) -> tuple[set[str], set[str]]:
    """The snapshots and the temporary files of a daemon."""
    pier.removals_done()
    snapshots = {p.name for p in (pier.data_root / "snapshots").iterdir()}
    tmp = {str(p) for p in (pier.data_root / "tmp").rglob("*")}
    return snapshots, tmp


def _tags(pier: PierDaemon) -> list[str]:
    return [t for i in pier.client.get_json("/images/json") for t in i["RepoTags"] or ()]


def _drop(pier: PierDaemon, repo: str) -> None:
    for image in pier.client.get_json("/images/json"):
        if any(repo in t for t in image.get("RepoTags") or ()):
            pier.client.delete(f"/images/{image['Id']}", force=1)


def _taken(pier: PierDaemon, path: str, payload: bytes, registry: DistributionRegistry) -> None:
    """`payload` sent down `path` makes an image (removed again afterwards)."""
    repo = f"bound-{secrets.token_hex(4)}"
    try:
        status, body = _send(pier, path, payload, repo, registry)
        assert status == 200, body[-2000:]
        assert b'"errorDetail"' not in body, body[-2000:]
        assert [t for t in _tags(pier) if repo in t], body[-2000:]
    finally:
        _drop(pier, repo)


@pytest.mark.parametrize("path", PATHS)
def test_an_archive_past_the_bound_is_refused_leaving_nothing(
    bounded: CustomDaemon, registry: DistributionRegistry, path: str
) -> None:
    repo = f"bound-{secrets.token_hex(4)}"
    before = _state(bounded)
    status, body = _send(bounded, path, _too_big(path == "build"), repo, registry)
    if path == "pull":  # the stream has begun: the error is its last message
        assert status == 200, body[-2000:]
        assert b'"errorDetail"' in body and SAID in body, body[-2000:]
    else:
        assert status == 400, body[-2000:]
        assert SAID in body, body[-2000:]
    assert _state(bounded) == before
    assert not [t for t in _tags(bounded) if repo in t]


@pytest.mark.parametrize("path", PATHS)
def test_sparse_holes_do_not_count(
    bounded: CustomDaemon, registry: DistributionRegistry, path: str
) -> None:
    _taken(bounded, path, _sparse(path == "build"), registry)


def test_the_bound_is_the_loads_not_each_layers(bounded: CustomDaemon) -> None:
    """Two layers each under the bound, over it together: a gzip bomb per layer must
    not write the bound many times over."""
    repo = f"bound-{secrets.token_hex(4)}"
    three_quarters = BOUND * 3 // 4
    one = _tar({"one": b"1" * three_quarters}, dockerfile=False)
    two = _tar({"two": b"2" * three_quarters}, dockerfile=False)
    before = _state(bounded)
    status, body = load_layers(bounded.client, repo, one, two)
    assert status == 400, body
    assert SAID in body, body
    assert _state(bounded) == before
    assert not [t for t in _tags(bounded) if repo in t]
    # Each alone is taken.
    try:
        status, body = load_layers(bounded.client, repo, one)
        assert status == 200, body
    finally:
        _drop(bounded, repo)


def test_zero_runs_of_a_plain_entry_are_holes_not_counted(bounded: CustomDaemon) -> None:
    """A plain (non-sparse) entry of 64 MiB, zeros but for a few bytes in its middle,
    as a layer Pier makes of a sparse file carries it: taken under the 4 MiB bound, and
    written with its holes."""
    repo = f"bound-{secrets.token_hex(4)}"
    size = 16 * BOUND
    data = bytearray(size)
    data[size // 2 : size // 2 + 13] = b"a few bytes\n\n"
    before = {p.name for p in (bounded.data_root / "snapshots").iterdir()}
    try:
        status, body = _send(
            bounded, "import", _tar({repo: bytes(data)}, dockerfile=False), repo, None
        )
        assert status == 200, body
        new = {p.name for p in (bounded.data_root / "snapshots").iterdir()} - before
        (written,) = [bounded.data_root / "snapshots" / n / "fs" / repo for n in new]
        st = written.stat()
        assert st.st_size == size
        assert st.st_blocks * 512 <= 128 * 1024  # one 64 KiB piece, and metadata
        assert written.read_bytes() == bytes(data)
    finally:
        _drop(bounded, repo)


def test_cp_is_not_bounded_as_under_dockerd(bounded: CustomDaemon) -> None:
    cid = create(bounded.client, ["true"])
    status, body = answer(
        bounded.client,
        "PUT",
        f"/containers/{cid}/archive",
        params={"path": "/tmp"},
        body=_too_big(False),
        headers={"Content-Type": "application/x-tar"},
    )
    assert status == 200, body
    resp = bounded.client.open("GET", f"/containers/{cid}/archive", params={"path": "/tmp/b"})
    try:
        with tarfile.open(fileobj=io.BytesIO(resp.read())) as tf:
            assert tf.getmember("b").size == BOUND * 3 // 4
    finally:
        resp.close()


@pytest.mark.parametrize("path", PATHS)
def test_the_default_bound_takes_what_the_small_one_refuses(
    pier: PierDaemon, registry: DistributionRegistry, path: str
) -> None:
    _taken(pier, path, _too_big(path == "build"), registry)


def test_the_setting_read_from_daemon_json(tmp_path: Path) -> None:
    assert DaemonConfig().max_unpack_size == 64 * 1024**3
    assert DaemonConfig().unpack_bound == 64 * 1024**3
    assert DaemonConfig(max_unpack_size=0).unpack_bound is None  # 0: no bound
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"max-unpack-size": 12345}))
    assert load_config_file(path) == {"max_unpack_size": 12345}
    path.write_text(json.dumps({"max-unpack-size": -1}))
    with pytest.raises(InvalidParameter, match="max-unpack-size"):
        load_config_file(path)
