"""Layer archives that are odd but legal, through `docker import`. The hostile ones
(broken, escaping, sparse giants...) are the corpus of pier_testing.hostile, run
through every unpacking path by test_hostile_corpus."""

from __future__ import annotations

import io
import tarfile

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


REG, DIR = tarfile.REGTYPE, tarfile.DIRTYPE


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
