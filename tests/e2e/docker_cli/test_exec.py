"""`docker exec` (piped, no terminal) with the real docker CLI against pierd; the
pseudo-terminal forms are in tests/e2e/interactive."""

from __future__ import annotations

from typing import Any

DockerCLI = Any  # the `docker` fixture of this directory's conftest


def _running(docker: DockerCLI, *args: str) -> str:
    return docker.ok("run", "-d", *args, "busybox", "sleep", "600").strip()


def test_exec_output_and_exit_code(docker: DockerCLI) -> None:
    cid = _running(docker)
    out = docker("exec", cid, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (out.returncode, out.stdout, out.stderr) == (7, "out\n", "err\n")


def test_exec_flags_env_workdir_user(docker: DockerCLI) -> None:
    _running(docker, "--name", "ex", "-e", "A=container")
    out = docker.ok(
        "exec", "-e", "A=exec", "-e", "B=2", "-w", "/tmp", "-u", "nobody", "ex",
        "sh", "-c", "echo $A $B; pwd; id -u",
    )  # fmt: skip
    assert out == "exec 2\n/tmp\n65534\n"


def test_exec_interactive_piped_stdin(docker: DockerCLI) -> None:
    cid = _running(docker)
    out = docker("exec", "-i", cid, "sh", "-c", "tr a-z A-Z", input="hello\nworld\n")
    assert (out.returncode, out.stdout) == (0, "HELLO\nWORLD\n")


def test_exec_detached(docker: DockerCLI) -> None:
    cid = _running(docker)
    out = docker("exec", "-d", cid, "sh", "-c", "echo hi > /tmp/d")
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    for _ in range(100):
        done = docker("exec", cid, "cat", "/tmp/d")
        if done.returncode == 0:
            break
    assert done.stdout == "hi\n"


def test_exec_not_found_is_127_and_not_executable_126(docker: DockerCLI) -> None:
    cid = _running(docker)
    missing = docker("exec", cid, "no-such-cmd")
    assert missing.returncode == 127
    assert 'exec: "no-such-cmd": executable file not found in $PATH' in missing.stdout
    denied = docker("exec", cid, "/etc/passwd")
    assert denied.returncode == 126


def test_exec_into_a_stopped_container(docker: DockerCLI) -> None:
    cid = docker.ok("create", "busybox", "true").strip()
    out = docker("exec", cid, "true")
    assert out.returncode == 1
    assert out.stderr == f"Error response from daemon: container {cid} is not running\n"


def test_exec_unknown_container(docker: DockerCLI) -> None:
    out = docker("exec", "no-such-container", "true")
    assert out.returncode == 1
    assert out.stderr == "Error response from daemon: No such container: no-such-container\n"
