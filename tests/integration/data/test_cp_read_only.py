"""`PUT /containers/{id}/archive` into a container with a read-only root: dockerd's
checkWritablePath refuses (400) only a destination on the root itself or on a
read-only mount; a read-write volume or bind mounted in the container takes the copy."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from pier.client.errors import APIError
from pier_testing.api import create
from pier_testing.daemon import PierDaemon


def _tar(name: str, data: bytes = b"x\n", *, link: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        if link:
            info.type, info.linkname = tarfile.SYMTYPE, link
            tar.addfile(info)
        else:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _put(pier: PierDaemon, cid: str, path: str, body: bytes) -> None:
    pier.client.request(
        "PUT", f"/containers/{cid}/archive", params={"path": path}, body=body
    ).read()


def _refused(pier: PierDaemon, cid: str, path: str) -> tuple[int, str]:
    with pytest.raises(APIError) as err:
        _put(pier, cid, path, _tar("f.txt"))
    return err.value.status, err.value.message


def _exists(pier: PierDaemon, cid: str, path: str) -> bool:
    resp = pier.client.open("HEAD", f"/containers/{cid}/archive", params={"path": path})
    resp.read()
    return resp.status == 200


@pytest.fixture(params=[True, False], ids=["running", "stopped"])
def running(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def _container(pier: PierDaemon, tmp_path: Path, running: bool, *, read_only: bool) -> str:
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    cid = create(
        pier.client,
        ["sleep", "300"],
        host_config={
            "ReadonlyRootfs": read_only,
            "Binds": [f"{rw}:/bind", f"{ro}:/robind:ro"],
            "Mounts": [{"Type": "volume", "Target": "/data"}],
        },
    )
    if running:
        pier.client.post(f"/containers/{cid}/start")
    return cid


def test_read_only_root_takes_copies_into_its_writable_mounts(
    pier: PierDaemon, tmp_path: Path, running: bool
) -> None:
    cid = _container(pier, tmp_path, running, read_only=True)
    assert _refused(pier, cid, "/tmp") == (400, "container rootfs is marked read-only")
    assert not _exists(pier, cid, "/tmp/f.txt")
    assert _refused(pier, cid, "/") == (400, "container rootfs is marked read-only")
    assert _refused(pier, cid, "/robind") == (400, "mounted volume is marked read-only")
    assert not (tmp_path / "ro" / "f.txt").exists()

    _put(pier, cid, "/data", _tar("in-volume.txt"))
    assert _exists(pier, cid, "/data/in-volume.txt")
    _put(pier, cid, "/bind", _tar("in-bind.txt"))
    assert (tmp_path / "rw" / "in-bind.txt").read_bytes() == b"x\n"

    # The destination is judged where its symlinks lead, inside the container.
    _put(pier, cid, "/bind", _tar("to-tmp", link="/tmp"))
    _put(pier, cid, "/bind", _tar("to-data", link="../data"))
    assert _refused(pier, cid, "/bind/to-tmp") == (400, "container rootfs is marked read-only")
    _put(pier, cid, "/bind/to-data", _tar("through-link.txt"))
    assert _exists(pier, cid, "/data/through-link.txt")


def test_read_only_mount_refuses_a_copy_on_a_writable_root(
    pier: PierDaemon, tmp_path: Path, running: bool
) -> None:
    cid = _container(pier, tmp_path, running, read_only=False)
    assert _refused(pier, cid, "/robind") == (400, "mounted volume is marked read-only")
    assert not (tmp_path / "ro" / "f.txt").exists()
    _put(pier, cid, "/tmp", _tar("f.txt"))
    assert _exists(pier, cid, "/tmp/f.txt")


def test_docker_cp_into_a_read_only_container(pier: PierDaemon, tmp_path: Path) -> None:
    import subprocess

    def docker(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/usr/local/bin/docker", *args],
            env=pier.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    made = docker("run", "-d", "--read-only", "-v", "/data", "busybox", "sleep", "300")
    assert made.returncode == 0, made.stderr
    cid = made.stdout.strip()
    src = tmp_path / "f.txt"
    src.write_text("hello\n")
    refused = docker("cp", str(src), f"{cid}:/tmp/")
    assert (refused.returncode, refused.stderr) == (
        1,
        "Error response from daemon: container rootfs is marked read-only\n",
    )
    done = docker("cp", str(src), f"{cid}:/data/")
    assert done.returncode == 0, done.stderr
    back = docker("exec", cid, "cat", "/data/f.txt")
    assert back.stdout == "hello\n"


def test_an_entry_through_a_symlink_never_writes_a_read_only_mount(
    pier: PierDaemon, tmp_path: Path, running: bool
) -> None:
    # The destination is writable, but an entry goes through a symlink there into the
    # read-only bind: the mount refuses the write (stopped containers get their
    # read-only binds mounted read-only for the copy too).
    cid = _container(pier, tmp_path, running, read_only=False)
    _put(pier, cid, "/tmp", _tar("to-ro", link="/robind"))
    with pytest.raises(APIError):
        _put(pier, cid, "/tmp", _tar("to-ro/f.txt"))
    assert not (tmp_path / "ro" / "f.txt").exists()
