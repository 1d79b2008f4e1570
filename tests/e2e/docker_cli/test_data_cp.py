"""`docker cp` (the archive endpoints) and `docker export` through the real docker CLI:
both directions, running and stopped containers, volumes and binds inside the
container, and symlinks that must resolve inside the container, never on the host."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from pier.client.errors import APIError


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_cp_both_ways(docker, tmp_path: Path, running: bool) -> None:
    args = ["-d"] if running else []
    cmd = ["sleep", "300"] if running else ["true"]
    verb = "run" if running else "create"
    docker.ok(verb, *args, "--name", "cpc", "-v", "cpvol:/vol", "busybox", *cmd)
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_text("hello\n")
    docker.ok("cp", str(src), "cpc:/vol/")
    docker.ok("cp", str(src / "sub" / "f.txt"), "cpc:/root.txt")
    out = tmp_path / "out"
    out.mkdir()
    docker.ok("cp", "cpc:/vol/tree", str(out))
    assert (out / "tree" / "sub" / "f.txt").read_text() == "hello\n"
    docker.ok("cp", "cpc:/root.txt", str(out / "copy.txt"))
    assert (out / "copy.txt").read_text() == "hello\n"
    docker.ok("rm", "-f", "cpc")
    # The file went into the volume, not into the container's own layer.
    got = docker.ok("run", "--rm", "-v", "cpvol:/v", "busybox", "cat", "/v/tree/sub/f.txt")
    assert got == "hello\n"
    docker.ok("volume", "rm", "cpvol")


def test_cp_symlink_to_etc_stays_in_the_container(docker, tmp_path: Path) -> None:
    docker.ok("run", "-d", "--name", "cpsym", "busybox", "sh", "-c",
              "ln -s /etc /escape && ln -s /etc/passwd /pw && sleep 300")  # fmt: skip
    docker.ok("exec", "cpsym", "test", "-L", "/escape")
    marker = tmp_path / "marker"
    marker.write_text("inside\n")
    docker.ok("cp", str(marker), "cpsym:/escape/pier-marker")
    assert not Path("/etc/pier-marker").exists()
    assert docker.ok("exec", "cpsym", "cat", "/etc/pier-marker") == "inside\n"
    out = tmp_path / "pw"
    docker.ok("cp", "-L", "cpsym:/pw", str(out))
    assert out.read_text() == docker.ok("exec", "cpsym", "cat", "/etc/passwd")
    assert out.read_text() != Path("/etc/passwd").read_text()
    docker.ok("rm", "-f", "cpsym")


def test_cp_errors(docker, tmp_path: Path) -> None:
    docker.ok("create", "--name", "cperr", "busybox", "true")
    out = docker("cp", "cperr:/nope", str(tmp_path))
    assert out.returncode == 1
    assert "Could not find the file /nope in container cperr" in out.stderr
    f = tmp_path / "f"
    f.write_text("x")
    out = docker("cp", str(f), "cperr:/no/such/dir/f")
    assert out.returncode == 1
    assert "Could not find the file /no/such/dir in container cperr" in out.stderr
    docker.ok("rm", "cperr")


def test_put_archive_refuses_entries_escaping(pier) -> None:
    cid = pier.client.post_json("/containers/create", {"Image": "busybox", "Cmd": ["true"]})["Id"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("../../../../tmp/pier-escaped")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(APIError) as err:
        pier.client.request(
            "PUT", f"/containers/{cid}/archive", params={"path": "/tmp"}, body=buf.getvalue()
        )
    assert err.value.status == 400
    assert "breakout" in str(err.value)
    assert not Path("/tmp/pier-escaped").exists()


def test_export_is_the_root_file_system(docker, tmp_path: Path) -> None:
    docker.ok("run", "--name", "exp", "-v", "expvol:/data", "busybox", "sh", "-c",
              "echo mine > /made && echo vol > /data/v")  # fmt: skip
    out = tmp_path / "exp.tar"
    docker.ok("export", "-o", str(out), "exp")
    with tarfile.open(out) as tf:
        names = tf.getnames()
        assert "made" in names
        assert "bin/busybox" in names or "bin/sh" in names
        assert not any(n.startswith("data/") for n in names)
        member = tf.extractfile("made")
        assert member is not None and member.read() == b"mine\n"
    docker.ok("rm", "exp")
    docker.ok("volume", "rm", "expvol")
