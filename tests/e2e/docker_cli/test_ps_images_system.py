"""`docker ps`, `docker images` and friends, and `docker version`, through the real
docker CLI."""

from __future__ import annotations

import json
import time

import pytest

from pier_testing.daemon import PierDaemon

PS_HEADER = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]


@pytest.fixture
def one_running_one_exited(docker) -> None:
    docker.ok("run", "-d", "--name", "e2e-exited", "-l", "team=a", "busybox", "true")
    docker.ok("wait", "e2e-exited")
    docker.ok("run", "-d", "--name", "e2e-running", "-l", "team=b", "busybox", "sleep", "60")


@pytest.mark.usefixtures("one_running_one_exited")
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["e2e-running"]),
        (["-a"], ["e2e-exited", "e2e-running"]),
        (["-a", "--filter", "status=exited"], ["e2e-exited"]),
        (["-a", "--filter", "status=running"], ["e2e-running"]),
        (["-a", "--filter", "name=e2e-ex"], ["e2e-exited"]),
        (["-a", "--filter", "name=nomatch"], []),
        (["-a", "--filter", "label=team"], ["e2e-exited", "e2e-running"]),
        (["-a", "--filter", "label=team=b"], ["e2e-running"]),
        (["-a", "--filter", "label=team", "--filter", "status=exited"], ["e2e-exited"]),
    ],
    ids=[
        "running",
        "all",
        "status-exited",
        "status-running",
        "name",
        "name-nomatch",
        "label-key",
        "label-value",
        "label-and-status",
    ],
)
def test_ps_names_and_filters(docker, args: list[str], expected: list[str]) -> None:
    out = docker("ps", *args, "--format", "{{.Names}}")
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split()) == expected
    assert out.stderr == ""


@pytest.mark.usefixtures("one_running_one_exited")
def test_ps_table(docker) -> None:
    lines = docker.ok("ps", "-a").splitlines()
    header = lines[0]
    assert [h.strip() for h in header.split("   ") if h.strip()] == PS_HEADER
    rows = {line.split()[-1]: line for line in lines[1:]}
    assert set(rows) == {"e2e-exited", "e2e-running"}
    assert "Exited (0)" in rows["e2e-exited"]
    assert "Up " in rows["e2e-running"]
    assert '"sleep 60"' in rows["e2e-running"]
    assert rows["e2e-running"].split()[1] == "busybox"


def test_ps_empty_table_is_the_header(docker) -> None:
    out = docker("ps", "-a")
    assert out.returncode == 0
    assert out.stdout == (
        "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
    )


@pytest.mark.usefixtures("one_running_one_exited")
def test_ps_quiet(docker) -> None:
    running = docker.ok("inspect", "-f", "{{.Id}}", "e2e-running").strip()
    exited = docker.ok("inspect", "-f", "{{.Id}}", "e2e-exited").strip()
    assert docker.ok("ps", "-q") == running[:12] + "\n"
    assert sorted(docker.ok("ps", "-aq", "--no-trunc").split()) == sorted([running, exited])


def test_ps_command_is_quoted_like_docker(docker) -> None:
    docker.ok("create", "--name", "e2e-cmd", "busybox", "sh", "-c", "exit 7")
    out = docker.ok("ps", "-a", "--no-trunc", "--format", "{{.Command}}")
    assert out == "\"sh -c 'exit 7'\"\n"


def test_ps_json_format(docker) -> None:
    docker.ok("create", "--name", "e2e-json", "-l", "k=v", "busybox", "true")
    row = json.loads(docker.ok("ps", "-a", "--format", "json"))
    assert row["Names"] == "e2e-json"
    assert row["Image"] == "busybox"
    assert row["Labels"] == "k=v"
    assert row["State"] == "created"
    assert row["Status"] == "Created"


def test_images_lists_busybox(docker, pier: PierDaemon) -> None:
    lines = docker.ok("images").splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    image_id = pier.client.get_json("/images/busybox/json")["Id"]
    row = next(line.split() for line in lines[1:] if line.startswith("busybox "))
    assert row[:3] == ["busybox", "latest", image_id.removeprefix("sha256:")[:12]]
    assert docker.ok("images", "--format", "{{.Repository}}:{{.Tag}}").split() == ["busybox:latest"]
    assert docker.ok("images", "-q", "--no-trunc") == image_id + "\n"


def test_image_inspect(docker, pier: PierDaemon) -> None:
    info = json.loads(docker.ok("image", "inspect", "busybox"))
    assert len(info) == 1
    assert info[0]["Id"] == pier.client.get_json("/images/busybox/json")["Id"]
    assert info[0]["RepoTags"] == ["busybox:latest"]
    assert info[0]["Os"] == "linux"
    assert info[0]["RootFS"]["Type"] == "layers"
    out = docker("image", "inspect", "nosuchimage")
    assert out.returncode == 1
    assert out.stdout == "[]\n"
    assert out.stderr.startswith("Error response from daemon: ")
    assert out.stderr.endswith("No such image: nosuchimage:latest\n")


def test_tag_and_rmi(docker) -> None:
    out = docker("tag", "busybox", "e2e-tag:v1")
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    tags = docker.ok("image", "inspect", "-f", "{{json .RepoTags}}", "e2e-tag:v1")
    assert sorted(json.loads(tags)) == ["busybox:latest", "e2e-tag:v1"]
    out = docker("rmi", "e2e-tag:v1")
    assert (out.returncode, out.stdout, out.stderr) == (0, "Untagged: e2e-tag:v1\n", "")
    assert docker.ok("images", "--format", "{{.Repository}}:{{.Tag}}").split() == ["busybox:latest"]


def test_rmi_of_an_image_in_use_is_a_conflict(docker, busybox_tar) -> None:
    # Its own image (a config change gives a new ID), so a wrong delete cannot take
    # busybox away from the module's other tests.
    image_id = docker.ok("import", "-c", "ENV E2E=1", str(busybox_tar), "e2e-inuse:1").strip()
    cid = docker.ok("create", "e2e-inuse:1", "true").strip()
    out = docker("rmi", "e2e-inuse:1")
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr == (
        'Error response from daemon: conflict: unable to remove repository reference "e2e-inuse:1" '
        f"(must force) - container {cid[:12]} is using its referenced image "
        f"{image_id.removeprefix('sha256:')[:12]}\n"
    )
    docker.ok("rm", cid)
    out = docker("rmi", "e2e-inuse:1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"Untagged: e2e-inuse:1\nDeleted: {image_id}\n")


def test_rmi_unknown_image(docker) -> None:
    out = docker("rmi", "nosuchimage")
    assert out.returncode == 1
    assert out.stderr == "Error response from daemon: No such image: nosuchimage:latest\n"


def test_version_shows_pier(docker) -> None:
    out = docker("version")
    assert out.returncode == 0, out.stderr
    server = out.stdout[out.stdout.index("\nServer:") :]
    assert server.startswith("\nServer: Pier")
    assert "API version:      1.47 (minimum version 1.24)" in server
    assert docker.ok("version", "--format", "{{.Server.APIVersion}}") == "1.47\n"
    assert docker.ok("version", "--format", "{{.Client.APIVersion}}") == "1.47\n"


def test_info_answers(docker) -> None:
    started = time.monotonic()
    out = docker("info", "--format", "{{.OSType}} {{.Containers}}")
    assert (out.returncode, out.stdout, out.stderr) == (0, "linux 0\n", "")
    assert time.monotonic() - started < 10
