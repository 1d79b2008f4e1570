"""COPY and ADD as Docker copies (a directory's contents, a file into a directory,
wildcards, --chown/--chmod, --parents, --exclude, WORKDIR-relative destinations),
ADD of a local archive (unpacked) and of a URL on loopback (--checksum), and remote
contexts: a tarball URL and a git repository."""

from __future__ import annotations

import hashlib
import http.server
import io
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier_testing.build import build, context_tar, run_output
from pier_testing.daemon import PierDaemon


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on loopback serving `tmp_path/www`."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_copy_forms(pier: PierDaemon) -> None:
    dockerfile = """FROM busybox
WORKDIR /app
COPY dir/ sub/
COPY *.txt /texts/
COPY --chown=33:33 --chmod=600 one.txt owned
COPY --parents dir/a/f dir/b/g /parents/
COPY --exclude=*.log dir/ /filtered/
COPY one.txt .
"""
    files = {
        "Dockerfile": dockerfile,
        "one.txt": "1",
        "two.txt": "2",
        "dir/a/f": "f",
        "dir/b/g": "g",
        "dir/x.log": "log",
    }
    out = build(pier, files).ok()
    listing = run_output(pier, out.image_id, "find", "/app", "/texts", "/parents", "/filtered")
    assert sorted(listing.split()) == sorted(
        [
            "/app", "/app/sub", "/app/sub/a", "/app/sub/a/f", "/app/sub/b", "/app/sub/b/g",
            "/app/sub/x.log", "/app/owned", "/app/one.txt", "/texts", "/texts/one.txt",
            "/texts/two.txt", "/parents", "/parents/dir", "/parents/dir/a", "/parents/dir/a/f",
            "/parents/dir/b", "/parents/dir/b/g", "/filtered", "/filtered/a", "/filtered/a/f",
            "/filtered/b", "/filtered/b/g",
        ]
    )  # fmt: skip
    stat = run_output(pier, out.image_id, "stat", "-c", "%u:%g %a", "/app/owned", "/app/one.txt")
    assert stat == "33:33 600\n0:0 644\n"


def test_add_archive_and_url(pier: PierDaemon, served: tuple[str, Path]) -> None:
    base, www = served
    (www / "remote.txt").write_text("from-the-web\n")
    digest = hashlib.sha256(b"from-the-web\n").hexdigest()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = b"unpacked\n"
        info = tarfile.TarInfo("inner/file")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    dockerfile = f"""FROM busybox
ADD archive.tar.gz /opt/
ADD --checksum=sha256:{digest} {base}/remote.txt /web/
COPY archive.tar.gz /kept/
"""
    out = build(pier, {"Dockerfile": dockerfile, "archive.tar.gz": buf.getvalue()}).ok()
    text = run_output(pier, out.image_id, "cat", "/opt/inner/file", "/web/remote.txt")
    assert text == "unpacked\nfrom-the-web\n"
    assert run_output(pier, out.image_id, "stat", "-c", "%a", "/web/remote.txt") == "600\n"
    assert run_output(pier, out.image_id, "ls", "/kept") == "archive.tar.gz\n"
    bad = build(
        pier,
        {"Dockerfile": f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {base}/remote.txt /\n"},
    )
    assert bad.error is not None and bad.error["error"].startswith("digest mismatch sha256:000")


def test_remote_contexts(
    pier: PierDaemon, served: tuple[str, Path], git_server: tuple[str, Path]
) -> None:
    base, www = served
    (www / "context.tar").write_bytes(
        context_tar({"Dockerfile": "FROM busybox\nCOPY f /f\n", "f": "tarball\n"})
    )
    out = build(pier, b"", remote=f"{base}/context.tar").ok()
    assert run_output(pier, out.image_id, "cat", "/f") == "tarball\n"

    url, work = git_server
    (work / "Dockerfile").write_text("FROM busybox\nCOPY f /f\n")
    (work / "f").write_text("from-git\n")
    git = ["git", "-C", str(work), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    subprocess.run([*git, "push", "-q", "origin", "main"], check=True)
    out = build(pier, b"", remote=url).ok()
    assert run_output(pier, out.image_id, "cat", "/f") == "from-git\n"
    # moby's IsGitURL: `.git` names a repository only at the end of an http(s) URL; a
    # file:// one is no URL dockerd fetches (it would clone the daemon's own files).
    refused = build(pier, b"", remote=f"file://{work}/.git")
    assert refused.status == 400
    assert refused.lines[0]["message"] == (
        f"remoteURL (file://{work}/.git) could not be recognized as URL"
    )
