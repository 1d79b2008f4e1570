"""`--device` through the real docker CLI: the node is made in the container with the
host's numbers and allowed by the device cgroup with the permissions asked."""

from __future__ import annotations

import json


def test_device_is_readable_and_writable_under_its_new_name(docker) -> None:
    out = docker.ok(
        "run", "--rm", "--device", "/dev/null:/dev/mynull", "busybox", "sh", "-c",
        "echo x > /dev/mynull && head -c1 /dev/mynull | wc -c && stat -c '%t %T %F' /dev/mynull",
    )  # fmt: skip
    assert out.splitlines() == ["0", "1 3 character special file"]


def test_device_permissions_reach_the_cgroup(docker) -> None:
    # Not among the default rules (null, zero, random... are): read only is opened for
    # reading, not for writing.
    out = docker(
        "run", "--rm", "--device", "/dev/loop-control:/dev/lc:r", "busybox", "sh", "-c",
        "exec 3</dev/lc && echo read-ok; exec 4>/dev/lc && echo write-ok",
    )  # fmt: skip
    assert out.stdout == "read-ok\n"
    assert out.returncode != 0
    assert "Operation not permitted" in out.stderr
    both = docker.ok(
        "run", "--rm", "--device", "/dev/loop-control:/dev/lc", "busybox", "sh", "-c",
        "exec 3</dev/lc && echo read-ok; exec 4>/dev/lc && echo write-ok",
    )  # fmt: skip
    assert both == "read-ok\nwrite-ok\n"


def test_device_listed_in_inspect(docker) -> None:
    cid = docker.ok("create", "--device", "/dev/null", "busybox", "true").strip()
    info = json.loads(docker.ok("inspect", cid))[0]
    assert info["HostConfig"]["Devices"] == [
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/null", "CgroupPermissions": "rwm"}
    ]
    docker.ok("rm", cid)


def test_missing_host_device_fails_the_start_with_dockerds_error(docker) -> None:
    out = docker("run", "--name", "nodev", "--device", "/dev/pier-missing", "busybox", "true")
    # 127: the docker CLI's reading of "no such file or directory" in a start error
    assert out.returncode == 127
    assert (
        'error gathering device information while adding custom device "/dev/pier-missing": '
        "no such file or directory" in out.stderr
    )
    # As dockerd: created, never started; removable.
    info = json.loads(docker.ok("inspect", "nodev"))[0]
    assert info["State"]["Status"] == "created"
    docker.ok("rm", "nodev")


def test_bad_device_argument_is_refused_by_the_cli(docker) -> None:
    out = docker("run", "--rm", "--device", "/dev/null:rel", "busybox", "true")
    assert out.returncode == 125
    assert out.stderr.startswith("docker: rel is not an absolute path\n")
