"""`docker cp -` both ways and `-a`, symlinks of a bind mount's source that point at
host paths (they resolve in the container's view), and `docker image prune` on its own."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest


def _tar(name: str, data: bytes, uid: int = 0, gid: int = 0) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.uid, info.gid = len(data), uid, gid
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _docker_bytes(docker, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/local/bin/docker", *args], env=docker._env, input=data,
                          capture_output=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_cp_dash_both_ways_and_archive_mode(docker, tmp_path: Path, running: bool) -> None:
    if running:
        docker.ok("run", "-d", "--name", "dash", "busybox", "sleep", "300")
    else:
        docker.ok("create", "--name", "dash", "busybox", "true")
    try:
        put = _docker_bytes(docker, "cp", "-", "dash:/tmp", data=_tar("in.txt", b"in\n", 42, 43))
        assert put.returncode == 0, put.stderr
        got = _docker_bytes(docker, "cp", "dash:/tmp/in.txt", "-")
        assert got.returncode == 0, got.stderr
        with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
            member = tar.getmember("in.txt")
            # without -a the daemon gives the file to root (copyUIDGID unset)
            assert (member.uid, member.gid) == (0, 0)
            extracted = tar.extractfile(member)
            assert extracted is not None and extracted.read() == b"in\n"
        src = tmp_path / "owned.txt"
        src.write_text("mine\n")
        os.chown(src, 1234, 5678)
        docker.ok("cp", "-a", str(src), "dash:/tmp/owned.txt")
        docker.ok("cp", str(src), "dash:/tmp/rooted.txt")
        got = _docker_bytes(docker, "cp", "dash:/tmp", "-")
        with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
            owned, rooted = tar.getmember("tmp/owned.txt"), tar.getmember("tmp/rooted.txt")
        assert (owned.uid, owned.gid) == (1234, 5678)
        assert (rooted.uid, rooted.gid) == (0, 0)
        # `-` as the source wants a directory at the destination
        bad = _docker_bytes(docker, "cp", "-", "dash:/tmp/owned.txt", data=_tar("x", b""))
        assert bad.returncode == 1
        assert bad.stderr == b'destination "dash:/tmp/owned.txt" must be a directory\n'
    finally:
        docker.ok("rm", "-f", "dash")


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_bind_source_symlinks_resolve_in_the_container(
    docker, tmp_path: Path, running: bool
) -> None:
    host_dir = tmp_path / "bind"
    host_dir.mkdir()
    # Symlinks made on the host, pointing at host paths: inside the container they
    # must mean the container's /etc, never the host's.
    os.symlink("/etc", host_dir / "abs")
    os.symlink("../../../../../../etc", host_dir / "rel")
    mark = f"pier-escape-{os.getpid()}-{running}"
    args = ["-d", "busybox", "sleep", "300"] if running else ["busybox", "true"]
    verb = "run" if running else "create"
    docker.ok(verb, "--name", "bindlink", "--hostname", "inside", "-v", f"{host_dir}:/mnt",
              *args)  # fmt: skip
    try:
        for link in ("abs", "rel"):
            got = _docker_bytes(docker, "cp", f"bindlink:/mnt/{link}/passwd", "-")
            assert got.returncode == 0, got.stderr
            with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
                member = tar.extractfile("passwd")
                assert member is not None
                # busybox's passwd, not the host's
                assert member.read() == _image_passwd(docker)
            src = tmp_path / mark
            src.write_text("x\n")
            docker.ok("cp", str(src), f"bindlink:/mnt/{link}/")
            assert not Path("/etc", mark).exists()
            got = _docker_bytes(docker, "cp", f"bindlink:/etc/{mark}", "-")
            assert got.returncode == 0, "the file landed in the container's /etc"
    finally:
        docker.ok("rm", "-f", "bindlink")
        assert not Path("/etc", mark).exists()


def _image_passwd(docker) -> bytes:
    return docker.raw("run", "--rm", "busybox", "cat", "/etc/passwd").stdout


def test_image_prune_dangling_all_and_filters(docker) -> None:
    layer = _tar("f", b"x" * 4096)
    dangling = _docker_bytes(docker, "import", "-", data=layer).stdout.decode().strip()
    tagged = _docker_bytes(docker, "import", "--change", "LABEL prune=me", "-", "prune-me:1",
                           data=layer).stdout.decode().strip()  # fmt: skip
    # until: only what was created before that time; these are newer
    out = docker.ok("image", "prune", "-f", "--filter", "until=1h")
    assert out == "Total reclaimed space: 0B\n"
    out = docker.ok("image", "prune", "-f")
    assert out.startswith(f"Deleted Images:\ndeleted: {dangling}\n")
    assert out.splitlines()[-1] != "Total reclaimed space: 0B"
    assert docker("image", "inspect", "prune-me:1").returncode == 0
    # -a with a label filter: the tagged, unused image only (never busybox)
    assert docker.ok("image", "prune", "-a", "-f", "--filter", "label=other") == (
        "Total reclaimed space: 0B\n"
    )
    out = docker.ok("image", "prune", "-a", "-f", "--filter", "label=prune=me")
    assert out.startswith(f"Deleted Images:\nuntagged: prune-me:1\ndeleted: {tagged}\n")
    assert docker("image", "inspect", "busybox").returncode == 0
    # an image a container uses stays, even with -a
    used = _docker_bytes(docker, "import", "--change", "LABEL prune=me", "-", "in-use:1",
                         data=layer).stdout.decode().strip()  # fmt: skip
    cid = docker.ok("create", "in-use:1", "x").strip()
    assert docker.ok("image", "prune", "-a", "-f", "--filter", "label=prune=me") == (
        "Total reclaimed space: 0B\n"
    )
    docker.ok("rm", cid)
    docker.ok("rmi", used)
    bad = docker("image", "prune", "-f", "--filter", "bogus=1")
    assert (bad.returncode, bad.stderr) == (
        1,
        "Error response from daemon: invalid filter 'bogus'\n",
    )
    assert json.loads(docker.ok("image", "inspect", "busybox"))[0]["Id"]
