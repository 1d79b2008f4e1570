"""Bad input through the real docker CLI: Docker's exit codes and messages, and nothing
left behind afterwards."""

from __future__ import annotations

import socket

RUN_HELP = "\nRun 'docker run --help' for more information\n"


def test_unknown_image(docker) -> None:
    # A registry on loopback that is not there: tests never reach out to Docker Hub.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        ref = f"127.0.0.1:{s.getsockname()[1]}/nosuchimage"
    out = docker("run", ref)
    assert out.returncode == 125
    assert out.stdout == ""
    assert out.stderr.startswith(
        f"Unable to find image '{ref}:latest' locally\ndocker: Error response from daemon: "
    )
    # The pull fails without a registry; Docker names it in the same message.
    assert ref.split("/")[0] in out.stderr.splitlines()[1]
    assert out.stderr.endswith(RUN_HELP)
    assert docker.names() == []


def test_invalid_name(docker) -> None:
    out = docker("run", "--name", "a b", "busybox", "true")
    assert out.returncode == 125
    assert out.stdout == ""
    assert out.stderr == (
        "docker: Error response from daemon: Invalid container name (a b), "
        "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n" + RUN_HELP
    )
    assert docker.names() == []


def test_duplicate_name(docker) -> None:
    cid = docker.ok("create", "--name", "e2e-dup", "busybox", "true").strip()
    out = docker("run", "--name", "e2e-dup", "busybox", "true")
    assert out.returncode == 125
    assert out.stdout == ""
    assert out.stderr == (
        'docker: Error response from daemon: Conflict. The container name "/e2e-dup" is '
        f'already in use by container "{cid}". You have to remove (or rename) that '
        "container to be able to reuse that name.\n" + RUN_HELP
    )
    assert docker.names() == ["e2e-dup"]


def test_unknown_runtime(docker) -> None:
    out = docker("run", "--runtime", "nope", "busybox", "true")
    assert out.returncode == 125
    assert out.stdout == ""
    # Docker 28's wording; Docker 20.10 said "Unknown runtime specified nope".
    assert out.stderr == (
        "docker: Error response from daemon: unknown or invalid runtime name: nope\n" + RUN_HELP
    )
    assert docker.names() == []


def test_rm_of_a_running_container(docker) -> None:
    docker.ok("run", "-d", "--name", "e2e-busy", "busybox", "sleep", "60")
    out = docker("rm", "e2e-busy")
    assert out.returncode == 1
    assert out.stdout == ""
    # Docker 28's wording (20.10: "You cannot remove a running container <id>. ...").
    assert out.stderr == (
        'Error response from daemon: cannot remove container "/e2e-busy": container is '
        "running: stop the container before removing or force remove\n"
    )
    assert docker.ok("inspect", "-f", "{{.State.Status}}", "e2e-busy") == "running\n"


def test_stop_unknown(docker) -> None:
    out = docker("stop", "nosuch")
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == "Error response from daemon: No such container: nosuch\n"


def test_failed_start_leaves_nothing_with_rm(docker) -> None:
    out = docker("run", "--rm", "busybox", "no-such-cmd")
    assert out.returncode == 127
    assert docker.names() == []
