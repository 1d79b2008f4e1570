"""Hostile layer archives through `docker import`: a clear 400 for every broken one,
nothing written outside the layer, and sparse giants kept sparse."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from pier_testing.daemon import PierDaemon


def _import(pier: PierDaemon, data: bytes, repo: str = "hostile") -> tuple[int, bytes]:
    resp = pier.client.open(
        "POST",
        "/images/create",
        params={"fromSrc": "-", "repo": repo, "tag": "latest"},
        body=data,
        headers={"Content-Type": "application/x-tar"},
    )
    try:
        return resp.status, resp.read()
    finally:
        resp.close()


def _tar(*entries: tuple[str, bytes, bytes | None, str]) -> bytes:
    """(name, type, data, linkname) entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data, link in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = link
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def _snapshots(pier: PierDaemon) -> set[str]:
    return {p.name for p in (pier.data_root / "snapshots").iterdir()}


REG, DIR, LNK = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.LNKTYPE


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([(".wh.", REG, b"", "")], "bad whiteout"),
        ([(".wh..", REG, b"", "")], "bad whiteout"),
        ([("d", DIR, None, ""), ("d/.wh..", REG, b"", "")], "bad whiteout"),
        ([("x" * 300, REG, b"data", "")], "File name too long"),
        ([("d", DIR, None, ""), ("l", LNK, None, "d")], "invalid layer tar"),
        ([("../escape", REG, b"x", "")], "breakout"),
    ],
    ids=[
        "whiteout-empty",
        "whiteout-parent",
        "nested-whiteout-parent",
        "long-name",
        "hardlink-to-dir",
        "breakout",
    ],
)
def test_broken_layers_are_a_400(
    pier: PierDaemon, entries: list[tuple[str, bytes, bytes | None, str]], message: str
) -> None:
    before = _snapshots(pier)
    status, body = _import(pier, _tar(*entries))
    assert status == 400, body
    assert message.encode() in body, body
    assert _snapshots(pier) == before  # nothing half-made, nothing above the root gone
    assert (pier.data_root / "snapshots").is_dir()
    images = pier.client.get_json("/images/json")
    assert all("hostile:latest" not in (i.get("RepoTags") or []) for i in images)


def test_truncated_gzip_is_a_400(pier: PierDaemon) -> None:
    data = gzip.compress(_tar(("f", REG, os.urandom(100_000), "")))
    status, body = _import(pier, data[: len(data) // 2])
    assert status == 400, body
    assert b"invalid layer tar" in body


def test_a_sparse_giant_stays_sparse(pier: PierDaemon, tmp_path: Path) -> None:
    big = tmp_path / "root" / "giant"
    big.parent.mkdir()
    with open(big, "wb") as fh:
        fh.truncate(2 * 1024**3)
        fh.seek(1024**3)
        fh.write(b"in the middle")
    archive = tmp_path / "sparse.tar"
    subprocess.run(
        ["tar", "--sparse", "--format=posix", "-C", str(big.parent), "-cf", str(archive), "."],
        check=True,
    )
    assert archive.stat().st_size < 1024 * 1024
    status, body = _import(pier, archive.read_bytes(), repo="sparse")
    assert status == 200, body
    found = [p for p in (pier.data_root / "snapshots").rglob("giant")]
    assert found
    st = found[0].stat()
    assert st.st_size == 2 * 1024**3
    assert st.st_blocks * 512 < 1024 * 1024  # holes kept, not 2 GiB of zeros
    with open(found[0], "rb") as fh:
        fh.seek(1024**3)
        assert fh.read(13) == b"in the middle"
    pier.client.delete("/images/sparse:latest")


def test_a_directory_replaced_by_a_file_below_the_root(pier: PierDaemon) -> None:
    data = _tar(
        ("d", DIR, None, ""),
        ("d/sub", DIR, None, ""),
        ("d/sub/f", REG, b"x", ""),
        ("d/sub", REG, b"now a file", ""),
        ("d/after", REG, b"the parent is still usable", ""),
    )
    status, body = _import(pier, data, repo="replaced")
    assert status == 200, body
    found = [p for p in (pier.data_root / "snapshots").rglob("d/sub") if p.is_file()]
    assert found and found[0].read_bytes() == b"now a file"
    assert (found[0].parent / "after").read_bytes() == b"the parent is still usable"
    pier.client.delete("/images/replaced:latest")
