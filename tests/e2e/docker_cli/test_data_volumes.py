"""Volumes and mounts through the real docker CLI: `docker volume`, `-v`, `--mount`,
`--tmpfs`, `--volumes-from`, `--read-only`, as dockerd answers them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _inspect(docker, ref: str) -> dict:
    return json.loads(docker.ok("inspect", ref))[0]


def test_volume_lifecycle(docker) -> None:
    assert docker.ok("volume", "create", "--label", "a=b", "vol-life") == "vol-life\n"
    info = json.loads(docker.ok("volume", "inspect", "vol-life"))[0]
    assert info["Name"] == "vol-life"
    assert info["Driver"] == "local"
    assert info["Scope"] == "local"
    assert info["Labels"] == {"a": "b"}
    assert info["Mountpoint"].endswith("/volumes/vol-life/_data")
    assert "vol-life" in docker.ok("volume", "ls", "-q").split()
    assert docker.ok("volume", "ls", "-q", "--filter", "label=a=c") == ""
    assert docker.ok("volume", "rm", "vol-life") == "vol-life\n"
    out = docker("volume", "inspect", "vol-life")
    assert out.returncode == 1
    assert "no such volume" in out.stderr


def test_named_volume_keeps_data_across_containers(docker) -> None:
    docker.ok("run", "--rm", "-v", "keep:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    out = docker.ok("run", "--rm", "-v", "keep:/data:ro", "busybox", "cat", "/data/f")
    assert out == "kept\n"
    ro = docker("run", "--rm", "-v", "keep:/data:ro", "busybox", "touch", "/data/x")
    assert ro.returncode == 1
    assert "Read-only file system" in ro.stderr
    docker.ok("volume", "rm", "keep")


def test_volume_in_use_is_a_conflict_naming_the_container(docker) -> None:
    cid = docker.ok("create", "-v", "busy:/data", "busybox", "true").strip()
    out = docker("volume", "rm", "busy")
    assert out.returncode == 1
    assert out.stderr == (f"Error response from daemon: remove busy: volume is in use - [{cid}]\n")
    docker.ok("rm", cid)
    docker.ok("volume", "rm", "busy")


def test_copy_up_fills_a_new_volume_from_the_image(docker) -> None:
    out = docker.ok("run", "--rm", "-v", "etcvol:/etc", "busybox", "cat", "/etc/passwd")
    assert "root:" in out
    mountpoint = Path(json.loads(docker.ok("volume", "inspect", "etcvol"))[0]["Mountpoint"])
    assert (mountpoint / "passwd").exists()
    nocopy = docker.ok("run", "--rm", "-v", "emptyvol:/etc:nocopy", "busybox", "ls", "/etc")
    # Only the files the daemon mounts over the volume: nothing of the image's /etc.
    assert sorted(nocopy.split()) == ["hostname", "hosts", "resolv.conf"]
    docker.ok("volume", "rm", "etcvol", "emptyvol")


def test_anonymous_volumes_go_with_rm_v_and_rm(docker) -> None:
    cid = docker.ok("create", "-v", "/anon", "busybox", "true").strip()
    mounts = _inspect(docker, cid)["Mounts"]
    assert len(mounts) == 1 and mounts[0]["Type"] == "volume"
    name = mounts[0]["Name"]
    assert len(name) == 64
    labels = json.loads(docker.ok("volume", "inspect", name))[0]["Labels"]
    assert labels == {"com.docker.volume.anonymous": ""}
    docker.ok("rm", "-v", cid)
    assert name not in docker.ok("volume", "ls", "-q").split()
    before = set(docker.ok("volume", "ls", "-q").split())
    docker.ok("run", "--rm", "-v", "/anon2", "busybox", "true")
    assert set(docker.ok("volume", "ls", "-q").split()) == before


def test_inspect_lists_mounts_as_dockerd(docker, tmp_path: Path) -> None:
    cid = docker.ok(
        "create",
        "-v", f"{tmp_path}:/host:ro",
        "-v", "listed:/vol",
        "--mount", "type=tmpfs,target=/scratch,tmpfs-size=1m",
        "--tmpfs", "/run:size=64k",
        "busybox", "true",
    ).strip()  # fmt: skip
    info = _inspect(docker, cid)
    by_dest = {m["Destination"]: m for m in info["Mounts"]}
    assert by_dest["/host"] == {
        "Type": "bind", "Source": str(tmp_path), "Destination": "/host", "Mode": "ro",
        "RW": False, "Propagation": "rprivate",
    }  # fmt: skip
    assert by_dest["/vol"]["Name"] == "listed"
    assert by_dest["/vol"]["Mode"] == "z"
    assert by_dest["/vol"]["Driver"] == "local"
    assert by_dest["/scratch"]["Type"] == "tmpfs"
    assert "/run" not in by_dest
    assert info["HostConfig"]["Tmpfs"] == {"/run": "size=64k"}
    assert info["HostConfig"]["Mounts"][0]["Target"] == "/scratch"
    docker.ok("rm", cid)
    docker.ok("volume", "rm", "listed")


def test_tmpfs_and_read_only_root(docker) -> None:
    out = docker.ok(
        "run", "--rm", "--read-only", "--tmpfs", "/run:size=64k,mode=1700",
        "-v", "rw-vol:/data", "busybox", "sh", "-c",
        "touch /data/ok /run/ok && stat -c %a /run && df -k /run | tail -1 "
        "&& (touch /nope 2>&1 || true)",
    )  # fmt: skip
    lines = out.splitlines()
    assert lines[0] == "1700"
    assert lines[1].split()[1] == "64"
    assert "Read-only file system" in lines[2]
    docker.ok("volume", "rm", "rw-vol")


def test_mount_flag_bind_file_and_missing_source(docker, tmp_path: Path) -> None:
    f = tmp_path / "file.txt"
    f.write_text("single\n")
    out = docker.ok(
        "run", "--rm", "--mount", f"type=bind,source={f},target=/etc/f.txt,readonly",
        "busybox", "cat", "/etc/f.txt",
    )  # fmt: skip
    assert out == "single\n"
    missing = docker(
        "run", "--rm", "--mount", f"type=bind,src={tmp_path}/nope,dst=/x", "busybox", "true"
    )
    assert missing.returncode == 125
    assert missing.stderr.startswith(
        'docker: Error response from daemon: invalid mount config for type "bind": '
        f"bind source path does not exist: {tmp_path}/nope"
    )
    made = tmp_path / "made"
    docker.ok("run", "--rm", "-v", f"{made}:/x", "busybox", "true")
    assert made.is_dir()


def test_volumes_from(docker) -> None:
    docker.ok("create", "--name", "vf-src", "-v", "vf-data:/shared", "busybox", "true")
    docker.ok(
        "run", "--rm", "--volumes-from", "vf-src", "busybox", "sh", "-c", "echo x > /shared/y"
    )
    ro = docker("run", "--rm", "--volumes-from", "vf-src:ro", "busybox", "touch", "/shared/z")
    assert ro.returncode == 1
    out = docker.ok("run", "--rm", "-v", "vf-data:/d", "busybox", "cat", "/d/y")
    assert out == "x\n"
    docker.ok("rm", "vf-src")
    docker.ok("volume", "rm", "vf-data")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-v", "rel/path:/x"], 'create rel/path: "rel/path" includes invalid characters'),
        (["-v", "/tmp:rel"], "mount path must be absolute"),
        (["-v", "/tmp:/x", "-v", "/var:/x"], "Duplicate mount point: /x"),
        (["--mount", "type=volume,src=v,dst=/x,volume-driver=nope"], 'plugin "nope" not found'),
    ],
    ids=["relative-source", "relative-target", "duplicate", "unknown-driver"],
)
def test_bad_mounts(docker, args: list[str], message: str) -> None:
    out = docker("create", *args, "busybox", "true")
    assert out.returncode == 1, out
    assert message in out.stderr
    assert docker.names() == []


def test_unknown_volume_option(docker) -> None:
    out = docker("volume", "create", "-o", "bogus=1", "badopt")
    assert out.returncode == 1
    assert out.stderr == 'Error response from daemon: create badopt: invalid option: "bogus"\n'
    assert "badopt" not in docker.ok("volume", "ls", "-q").split()


def test_tmpfs_volume_driver_option(docker) -> None:
    docker.ok("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "tv")
    out = docker.ok("run", "--rm", "-v", "tv:/t", "busybox", "sh", "-c", "df -k /t | tail -1")
    assert out.split()[1] == "1024"
    docker.ok("volume", "rm", "tv")


def test_volume_prune_takes_anonymous_unless_all(docker) -> None:
    docker.ok("volume", "create", "named-keep")
    cid = docker.ok("create", "-v", "/a", "busybox", "true").strip()
    anon = _inspect(docker, cid)["Mounts"][0]["Name"]
    docker.ok("rm", cid)
    out = docker.ok("volume", "prune", "-f")
    assert anon in out
    assert "named-keep" in docker.ok("volume", "ls", "-q").split()
    out = docker.ok("volume", "prune", "-af")
    assert "named-keep" in out
    assert docker.ok("volume", "ls", "-q") == ""


def test_volume_data_survives_kill_9_of_pierd(docker, pier) -> None:
    docker.ok("run", "--rm", "-v", "crashvol:/d", "busybox", "sh", "-c", "echo safe > /d/f")
    pier.kill9()
    pier.start()
    assert "crashvol" in docker.ok("volume", "ls", "-q").split()
    assert docker.ok("run", "--rm", "-v", "crashvol:/d", "busybox", "cat", "/d/f") == "safe\n"
    docker.ok("volume", "rm", "crashvol")


def test_an_interrupted_copy_up_is_done_again(docker) -> None:
    docker.ok("volume", "create", "halfvol")
    data = Path(json.loads(docker.ok("volume", "inspect", "halfvol"))[0]["Mountpoint"])
    # What a pierd killed in the middle of a copy-up leaves: part of the files and
    # the marker beside _data.
    (data / "partial").write_text("half")
    (data.parent / "copy-up.incomplete").touch()
    out = docker.ok("run", "--rm", "-v", "halfvol:/etc", "busybox", "ls", "/etc")
    assert "passwd" in out.split()
    assert "partial" not in out.split()
    assert not (data.parent / "copy-up.incomplete").exists()
    docker.ok("volume", "rm", "halfvol")
