"""`docker cp` and `export` streaming megabytes through the daemon (more than a pipe or
a socket buffer holds, so the streams wait on each other), an upload that fails on its
first entry while the client is still sending, and dockerd's refusals to replace a
directory with a file (or a file with a directory) when `noOverwriteDirNonDir` is set,
as the docker CLI always sets it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import tarfile
import time
from pathlib import Path

import pytest

from pier.client.errors import APIError


def _tree(root: Path) -> dict[str, str]:
    """A tree of a few megabytes (big and small files, nested), name -> sha256."""
    sums = {}
    for i, size in enumerate([0, 1, 511, 4096, 65537, 3 << 20, 5 << 20]):
        sub = root / f"d{i % 3}" / "deeper"
        sub.mkdir(parents=True, exist_ok=True)
        data = os.urandom(size)
        (sub / f"f{i}").write_bytes(data)
        sums[f"d{i % 3}/deeper/f{i}"] = hashlib.sha256(data).hexdigest()
    return sums


def _sums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_megabytes_both_ways_arrive_whole(docker, tmp_path: Path, running: bool) -> None:
    verb, args = ("run", ["-d"]) if running else ("create", [])
    cmd = ["sleep", "300"] if running else ["true"]
    docker.ok(verb, *args, "--name", "cpbig", "busybox", *cmd)
    src = tmp_path / "src"
    sums = _tree(src)
    docker.ok("cp", str(src), "cpbig:/big")
    out = tmp_path / "out"
    docker.ok("cp", "cpbig:/big", str(out))
    assert _sums(out) == sums
    exported = tmp_path / "exp.tar"
    docker.ok("export", "-o", str(exported), "cpbig")
    with tarfile.open(exported) as tf:
        for name, digest in sums.items():
            member = tf.extractfile(f"big/{name}")
            assert member is not None
            assert hashlib.sha256(member.read()).hexdigest() == digest
    docker.ok("rm", "-f", "cpbig")


def test_an_upload_failing_early_answers_while_the_client_still_sends(pier) -> None:
    cid = pier.client.post_json("/containers/create", {"Image": "busybox", "Cmd": ["true"]})["Id"]
    # The first entry breaks out; 24 MB follow, far more than the pipe to the extractor
    # and the socket buffers hold: the answer must not wait for a reader that is gone.
    tail = tarfile.TarInfo("padding")
    tail.size = 24 << 20
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        bad = tarfile.TarInfo("../../pier-escaped-early")
        bad.size = 1
        tf.addfile(bad, io.BytesIO(b"x"))
        tf.addfile(tail, io.BytesIO(bytes(tail.size)))
    started = time.monotonic()
    with pytest.raises(APIError) as err:
        pier.client.request(
            "PUT", f"/containers/{cid}/archive", params={"path": "/tmp"}, body=buf.getvalue()
        )
    assert err.value.status == 400
    assert "breakout" in str(err.value)
    assert time.monotonic() - started < 50  # the client's own timeout is 60 s
    assert not Path("/pier-escaped-early").exists()
    assert not Path("/tmp/pier-escaped-early").exists()
    # The container is intact and usable: the next copy works.
    ok = io.BytesIO()
    with tarfile.open(fileobj=ok, mode="w") as tf:
        info = tarfile.TarInfo("fine")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"ok"))
    pier.client.request(
        "PUT", f"/containers/{cid}/archive", params={"path": "/tmp"}, body=ok.getvalue()
    ).read()
    got = pier.client.request("GET", f"/containers/{cid}/archive", params={"path": "/tmp/fine"})
    with tarfile.open(fileobj=io.BytesIO(got.read())) as tf:
        member = tf.extractfile("fine")
        assert member is not None and member.read() == b"ok"
    pier.client.delete(f"/containers/{cid}")


def _put(pier, cid: str, path: str, entries: list[tarfile.TarInfo], **params: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for info in entries:
            tf.addfile(info, io.BytesIO(bytes(info.size)) if info.isfile() else None)
    pier.client.request(
        "PUT", f"/containers/{cid}/archive", params={"path": path, **params}, body=buf.getvalue()
    ).read()


def _entry(name: str, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def _link(name: str, target: str) -> tarfile.TarInfo:
    info = _entry(name, tarfile.SYMTYPE)
    info.linkname = target
    return info


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_no_overwrite_dir_non_dir(pier, running: bool) -> None:
    cmd = ["sleep", "300"] if running else ["true"]
    cid = pier.client.post_json("/containers/create", {"Image": "busybox", "Cmd": cmd})["Id"]
    if running:
        pier.client.post(f"/containers/{cid}/start")
    _put(pier, cid, "/tmp", [_entry("adir", tarfile.DIRTYPE), _entry("afile")])
    no = {"noOverwriteDirNonDir": "true"}
    # moby's Untar: the entry's path in the container, then the extraction point; an
    # untyped error, so a 500 (dockerd 20.10 answers the same, after "Error processing
    # tar file(exit status 1): ", its re-executed extractor's words)
    with pytest.raises(APIError) as err:
        _put(pier, cid, "/tmp", [_entry("adir")], **no)
    assert err.value.status == 500
    assert 'cannot overwrite directory "/tmp/adir" with non-directory "/tmp"' in str(err.value)
    with pytest.raises(APIError) as err:
        _put(pier, cid, "/tmp", [_entry("afile", tarfile.DIRTYPE)], **no)
    assert 'cannot overwrite non-directory "/tmp/afile" with directory "/tmp"' in str(err.value)
    # Within one archive too: a file, then a directory of the same name.
    with pytest.raises(APIError) as err:
        _put(pier, cid, "/", [_entry("new"), _entry("new", tarfile.DIRTYPE)], **no)
    assert 'cannot overwrite non-directory "/new" with directory "/"' in str(err.value)
    # In a directory the same upload made, where nothing is looked up but its own names.
    with pytest.raises(APIError) as err:
        _put(pier, cid, "/", [_entry("made", tarfile.DIRTYPE), _entry("made/x"),
                              _entry("made/x", tarfile.DIRTYPE)], **no)  # fmt: skip
    assert 'cannot overwrite non-directory "/made/x" with directory "/"' in str(err.value)
    # A symlink entry redirects a directory made earlier to one that has things in it.
    d = tarfile.DIRTYPE
    _put(pier, cid, "/", [_entry("empty", d), _entry("full", d), _entry("full/new", d),
                          _entry("full/new/x", d), _link("s", "/empty")])  # fmt: skip
    with pytest.raises(APIError) as err:
        _put(pier, cid, "/", [_entry("s/new", tarfile.DIRTYPE), _link("s", "/full"),
                              _entry("s/new/x")], **no)  # fmt: skip
    assert 'cannot overwrite directory "/s/new/x" with non-directory "/"' in str(err.value)
    # Without the flag both are replaced.
    _put(pier, cid, "/", [_entry("rdir", tarfile.DIRTYPE), _entry("rfile")])
    _put(pier, cid, "/", [_entry("rdir"), _entry("rfile", tarfile.DIRTYPE)])
    for path, is_dir in (("/rdir", False), ("/rfile", True)):
        head = pier.client.request("HEAD", f"/containers/{cid}/archive", params={"path": path})
        head.read()
        info = json.loads(base64.b64decode(head.headers["x-docker-container-path-stat"]))
        assert bool(info["mode"] & (1 << 31)) == is_dir, path
    pier.client.delete(f"/containers/{cid}", force="1")


@pytest.mark.parametrize("what", ["export", "archive?path=/big"])
def test_a_client_leaving_mid_stream_ends_the_copy(docker, pier, tmp_path: Path, what: str) -> None:
    docker.ok("create", "--name", "cpgone", "busybox", "true")
    big = tmp_path / "big"
    big.write_bytes(os.urandom(16 << 20))  # far more than the socket buffers hold
    docker.ok("cp", str(big), "cpgone:/big")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(pier.socket))
        sock.sendall(f"GET /containers/cpgone/{what} HTTP/1.1\r\nHost: pier\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200")
    # The copy of a stopped container holds its lifecycle lock until tar is done: a
    # start waits for it, so a tar left writing to nobody would hang this start.
    docker.ok("start", "-a", "cpgone", timeout=60)
    docker.ok("rm", "cpgone")
