"""`docker system df` and the prunes through the real docker CLI: what goes, what
stays (volumes without --volumes: nothing lost), and the space reported."""

from __future__ import annotations

import json


def test_system_df_lists_images_containers_volumes(docker) -> None:
    docker.ok("run", "--name", "dfc", "-v", "dfvol:/d", "busybox", "sh", "-c",
              "head -c 100000 /dev/zero > /d/f")  # fmt: skip
    out = docker.ok("system", "df")
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["TYPE", "TOTAL"]
    assert [line.split()[0] for line in lines[1:]] == ["Images", "Containers", "Local", "Build"]
    verbose = docker.ok("system", "df", "-v")
    assert "dfvol" in verbose and "100kB" in verbose
    raw = json.loads(docker.ok("system", "df", "--format", "{{json .}}").splitlines()[2])
    assert raw["Type"] == "Local Volumes"
    docker.ok("rm", "dfc")
    docker.ok("volume", "rm", "dfvol")


def test_system_prune_keeps_volumes_unless_asked(docker) -> None:
    docker.ok("run", "--name", "prunec", "-v", "precious:/d", "busybox", "sh", "-c",
              "echo keep > /d/f")  # fmt: skip
    running = docker.ok("run", "-d", "busybox", "sleep", "300").strip()
    out = docker.ok("system", "prune", "-f")
    assert "Deleted Containers:" in out
    assert docker.ok("ps", "-aq", "--no-trunc").split() == [running]
    got = docker.ok("run", "--rm", "-v", "precious:/d", "busybox", "cat", "/d/f")
    assert got == "keep\n"
    docker.ok("rm", "-f", running)
    docker.ok("system", "prune", "-f", "--volumes")
    # Named volumes go only with `volume prune -a` (Docker 23+): this one stays.
    assert "precious" in docker.ok("volume", "ls", "-q").split()
    docker.ok("volume", "rm", "precious")


def test_container_prune_reports_ids(docker) -> None:
    cid = docker.ok("create", "--label", "p=1", "busybox", "true").strip()
    other = docker.ok("create", "busybox", "true").strip()
    out = docker.ok("container", "prune", "-f", "--filter", "label=p=1")
    assert cid in out and other not in out
    assert docker.ok("ps", "-aq", "--no-trunc").split() == [other]
    docker.ok("rm", other)
