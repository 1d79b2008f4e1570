"""Container lifecycle through the real docker CLI: detached runs, logs, stop, kill,
restart, rename, create + start, inspect and wait."""

from __future__ import annotations

import re
import time

import pytest

from pier_testing.api import wait_for

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def test_detached_logs_follow_stop_rm(docker) -> None:
    cid = docker.ok(
        "run", "-d", "busybox", "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.4; done"
    ).strip()
    assert HEX64.match(cid)
    with docker.popen("logs", "-f", cid) as follow:
        assert follow.stdout is not None
        first = follow.stdout.readline()
        seen_at = time.monotonic()
        assert first == "line1\n"
        rest = follow.stdout.read()
        ended_at = time.monotonic()
        assert follow.wait(20) == 0
    assert rest == "line2\nline3\n"
    # Following: the first line arrived while the container still had ~0.8 s to go.
    assert ended_at - seen_at > 0.5
    assert docker.ok("inspect", "-f", "{{.State.Status}}", cid) == "exited\n"
    assert docker.ok("rm", cid) == cid + "\n"
    assert docker.names() == []


def test_logs_follow_of_a_stopped_container_ends(docker) -> None:
    docker.ok("run", "--name", "e2e-done", "busybox", "echo", "done")
    out = docker("logs", "-f", "e2e-done", timeout=10)
    assert (out.returncode, out.stdout, out.stderr) == (0, "done\n", "")


def test_stop_and_rm(docker) -> None:
    docker.ok("run", "-d", "--name", "e2e-stop", "busybox", "sleep", "60")
    started = time.monotonic()
    out = docker("stop", "-t", "1", "e2e-stop")
    assert (out.returncode, out.stdout, out.stderr) == (0, "e2e-stop\n", "")
    assert time.monotonic() - started < 10
    # sleep ignores SIGTERM as PID 1, so the stop ends with SIGKILL.
    assert docker.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "e2e-stop") == (
        "exited 137\n"
    )
    assert docker.ok("rm", "e2e-stop") == "e2e-stop\n"
    assert docker.names() == []


def test_stop_honours_sigterm(docker) -> None:
    docker.ok(
        "run",
        "-d",
        "--name",
        "e2e-term",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done",
    )
    wait_for(lambda: docker.ok("logs", "e2e-term") == "ready\n")  # the trap is in place
    docker.ok("stop", "e2e-term")
    assert docker.ok("inspect", "-f", "{{.State.ExitCode}}", "e2e-term") == "42\n"


def test_rm_force_of_a_running_container(docker) -> None:
    docker.ok("run", "-d", "--name", "e2e-force", "busybox", "sleep", "60")
    assert docker.ok("rm", "-f", "e2e-force") == "e2e-force\n"
    assert docker.names() == []


@pytest.mark.parametrize("code", [0, 3], ids=["0", "3"])
def test_inspect_exit_code_and_wait(docker, code: int) -> None:
    docker.ok("run", "-d", "--name", "e2e-exit", "busybox", "sh", "-c", f"exit {code}")
    assert docker.ok("wait", "e2e-exit") == f"{code}\n"
    got = docker.ok("inspect", "-f", "{{.State.ExitCode}}", "e2e-exit")
    assert got == f"{code}\n"
    assert docker.ok("inspect", "-f", "{{.State.Status}}", "e2e-exit") == "exited\n"


def test_wait_blocks_until_exit(docker) -> None:
    docker.ok("run", "-d", "--name", "e2e-wait", "busybox", "sh", "-c", "sleep 1; exit 5")
    started = time.monotonic()
    out = docker("wait", "e2e-wait")
    assert (out.returncode, out.stdout, out.stderr) == (0, "5\n", "")
    assert time.monotonic() - started > 0.5


def test_create_then_start_attached(docker) -> None:
    cid = docker.ok(
        "create", "--name", "e2e-created", "busybox", "sh", "-c", "echo out; echo err >&2; exit 4"
    ).strip()
    assert HEX64.match(cid)
    assert docker.ok("inspect", "-f", "{{.State.Status}}", cid) == "created\n"
    out = docker("start", "-a", "e2e-created")
    assert (out.returncode, out.stdout, out.stderr) == (4, "out\n", "err\n")
    assert docker.ok("inspect", "-f", "{{.State.ExitCode}}", cid) == "4\n"


def test_start_detached_prints_the_name(docker) -> None:
    docker.ok("create", "--name", "e2e-start", "busybox", "true")
    assert docker.ok("start", "e2e-start") == "e2e-start\n"
    assert docker.ok("wait", "e2e-start") == "0\n"


def test_restart(docker) -> None:
    docker.ok("run", "-d", "--name", "e2e-restart", "busybox", "sh", "-c", "echo run; sleep 60")
    pid_before = docker.ok("inspect", "-f", "{{.State.Pid}}", "e2e-restart")
    out = docker("restart", "-t", "1", "e2e-restart")
    assert (out.returncode, out.stdout, out.stderr) == (0, "e2e-restart\n", "")
    state = docker.ok("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "e2e-restart").split()
    assert state[0] == "running"
    assert state[1] != pid_before.strip()
    wait_for(lambda: docker.ok("logs", "e2e-restart") == "run\nrun\n")
    assert docker.ok("logs", "e2e-restart") == "run\nrun\n"


def test_kill_with_signal(docker) -> None:
    docker.ok(
        "run",
        "-d",
        "--name",
        "e2e-kill",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got USR1; exit 5' USR1; echo ready; while :; do sleep 0.1; done",
    )
    wait_for(lambda: docker.ok("logs", "e2e-kill") == "ready\n")
    out = docker("kill", "-s", "USR1", "e2e-kill")
    assert (out.returncode, out.stdout, out.stderr) == (0, "e2e-kill\n", "")
    assert docker.ok("wait", "e2e-kill") == "5\n"
    assert docker.ok("logs", "e2e-kill") == "ready\ngot USR1\n"


def test_kill_default_is_sigkill(docker) -> None:
    docker.ok("run", "-d", "--name", "e2e-kill9", "busybox", "sleep", "60")
    assert docker.ok("kill", "e2e-kill9") == "e2e-kill9\n"
    assert docker.ok("wait", "e2e-kill9") == "137\n"


def test_rename(docker) -> None:
    cid = docker.ok("create", "--name", "e2e-old", "busybox", "true").strip()
    out = docker("rename", "e2e-old", "e2e-new")
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert docker.ok("inspect", "-f", "{{.Id}} {{.Name}}", "e2e-new") == f"{cid} /e2e-new\n"
    gone = docker("inspect", "e2e-old")
    assert gone.returncode == 1
    assert gone.stderr == "Error: No such object: e2e-old\n"


@pytest.fixture
def three_lines(docker) -> str:
    docker.ok("run", "--name", "e2e-logs", "busybox", "sh", "-c", "echo one; echo two; echo three")
    return "e2e-logs"


def test_logs_tail(docker, three_lines: str) -> None:
    out = docker("logs", "--tail", "2", three_lines)
    assert (out.returncode, out.stdout, out.stderr) == (0, "two\nthree\n", "")


def test_logs_timestamps(docker, three_lines: str) -> None:
    lines = docker.ok("logs", "-t", three_lines).splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["one", "two", "three"]
    for line in lines:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z", line.split(" ")[0]), line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--since", "1h"], "one\ntwo\nthree\n"),
        (["--since", "2100-01-01T00:00:00Z"], ""),
        (["--until", "2100-01-01T00:00:00Z"], "one\ntwo\nthree\n"),
        (["--until", "2000-01-01T00:00:00Z"], ""),
        (["--since", "2000-01-01T00:00:00Z", "--until", "2000-01-02T00:00:00Z"], ""),
    ],
    ids=["since-1h", "since-future", "until-future", "until-past", "window-past"],
)
def test_logs_since_until(docker, three_lines: str, args: list[str], expected: str) -> None:
    out = docker("logs", *args, three_lines)
    assert (out.returncode, out.stdout, out.stderr) == (0, expected, "")


def test_logs_since_until_a_line_timestamp(docker) -> None:
    # The pauses give each line its own timestamp: conmon stamps what one read()
    # returns, so lines written together share one.
    script = "echo one; sleep 0.1; echo two; sleep 0.1; echo three"
    docker.ok("run", "--name", "e2e-stamps", "busybox", "sh", "-c", script)
    stamps = [line.split(" ")[0] for line in docker.ok("logs", "-t", "e2e-stamps").splitlines()]
    assert len(set(stamps)) == 3, stamps
    # Both bounds are inclusive at nanosecond precision, as with Docker.
    out = docker("logs", "--since", stamps[1], "e2e-stamps")
    assert (out.returncode, out.stdout, out.stderr) == (0, "two\nthree\n", "")
    out = docker("logs", "--until", stamps[1], "e2e-stamps")
    assert (out.returncode, out.stdout, out.stderr) == (0, "one\ntwo\n", "")


def test_logs_of_a_tty_container(docker) -> None:
    # A TTY merges stderr into stdout and the terminal turns \n into \r\n.
    run = docker.raw("run", "-t", "--name", "e2e-tty", "busybox", "sh", "-c", "echo a; echo b >&2")
    assert (run.returncode, run.stdout, run.stderr) == (0, b"a\r\nb\r\n", b"")
    out = docker.raw("logs", "e2e-tty")
    assert (out.returncode, out.stdout, out.stderr) == (0, b"a\r\nb\r\n", b"")
