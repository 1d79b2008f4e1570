"""Signals and attached sessions through the real docker CLI: --stop-signal,
--stop-timeout, kill -s, the CLI's signal proxy, attach with piped stdin, start -ai."""

from __future__ import annotations

import signal
from contextlib import AbstractContextManager as ContextManager

from pier_testing.api import wait_for
from pier_testing.daemon import PierDaemon
from pier_testing.session import Session
from pier_testing.session import session as run_session

DOCKER = "/usr/local/bin/docker"
READY_LOOP = "echo ready; while true; do sleep 0.1; done"


def session(daemon: PierDaemon, *args: str, stdin: bool = False) -> ContextManager[Session]:
    return run_session([DOCKER, *args], daemon.env(), stdin=stdin)


def test_stop_signal_is_what_stop_sends(docker) -> None:
    docker.ok("run", "-d", "--name", "stopsig", "--stop-signal", "SIGUSR1", "busybox",
              "sh", "-c", 'trap "echo got USR1; exit 5" USR1; ' + READY_LOOP)  # fmt: skip
    assert docker.ok("inspect", "-f", "{{.Config.StopSignal}}", "stopsig") == "SIGUSR1\n"
    wait_for(lambda: docker.ok("logs", "stopsig") == "ready\n")
    out = docker("stop", "stopsig")
    assert (out.returncode, out.stdout, out.stderr) == (0, "stopsig\n", "")
    assert docker.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "stopsig") == (
        "exited 5\n"
    )
    assert docker.ok("logs", "stopsig") == "ready\ngot USR1\n"


def test_stop_timeout_is_the_grace_period(docker) -> None:
    # sleep as PID 1 ignores SIGTERM: only the SIGKILL after the grace period ends it.
    docker.ok("run", "-d", "--name", "stoptime", "--stop-timeout", "1", "busybox", "sleep", "1000")
    assert docker.ok("inspect", "-f", "{{.Config.StopTimeout}}", "stoptime") == "1\n"
    out = docker("stop", "stoptime")
    assert (out.returncode, out.stdout, out.stderr) == (0, "stoptime\n", "")
    assert docker.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "stoptime") == (
        "exited 137\n"
    )


def test_kill_with_a_signal_reaches_a_trap(docker) -> None:
    docker.ok("run", "-d", "--name", "killusr", "busybox", "sh", "-c",
              'trap "echo got USR1; exit 4" USR1; ' + READY_LOOP)  # fmt: skip
    wait_for(lambda: docker.ok("logs", "killusr") == "ready\n")
    out = docker("kill", "-s", "USR1", "killusr")
    assert (out.returncode, out.stdout, out.stderr) == (0, "killusr\n", "")
    assert docker.ok("wait", "killusr") == "4\n"
    assert docker.ok("logs", "killusr") == "ready\ngot USR1\n"


def test_run_proxies_sigterm(docker, pier: PierDaemon) -> None:
    script = 'trap "echo got TERM; exit 3" TERM; ' + READY_LOOP
    with session(pier, "run", "--rm", "busybox", "sh", "-c", script) as s:
        s.read_until(b"ready\n")
        s.proc.send_signal(signal.SIGTERM)
        code, out, err = s.finish()
    assert (code, out, err) == (3, b"ready\ngot TERM\n", b"")
    assert docker.names() == []


def test_attach_with_piped_stdin(docker, pier: PierDaemon) -> None:
    docker.ok("run", "-d", "-i", "--name", "att", "busybox",
              "sh", "-c", "read x; echo got $x; exit 5")  # fmt: skip
    with session(pier, "attach", "att", stdin=True) as s:
        s.write(b"hello\n")
        # Kept open until the answer is in: Docker ends the output of a non-StdinOnce
        # attach when its stdin ends.
        s.read_until(b"got hello\n")
        code, out, err = s.finish()
    assert (code, out, err) == (5, b"got hello\n", b"")


def test_attach_forwards_signals(docker, pier: PierDaemon) -> None:
    script = 'trap "echo got TERM; exit 3" TERM; while true; do echo tick; sleep 0.2; done'
    docker.ok("run", "-d", "--name", "attsig", "busybox", "sh", "-c", script)
    with session(pier, "attach", "attsig") as s:
        s.read_until(b"tick\n")
        s.proc.send_signal(signal.SIGTERM)
        code, out, err = s.finish()
    assert (code, err) == (3, b"")
    assert out.endswith(b"tick\ngot TERM\n"), out


def test_attach_to_a_stopped_container_is_refused(docker) -> None:
    docker.ok("create", "--name", "notrunning", "busybox", "true")
    out = docker("attach", "notrunning")
    assert (out.returncode, out.stdout, out.stderr) == (
        1, "", "You cannot attach to a stopped container, start it first\n"
    )  # fmt: skip


def test_start_attach_interactive(docker) -> None:
    docker.ok("create", "-i", "--name", "sai", "busybox", "sh", "-c", "read x; echo got $x; exit 6")
    out = docker("start", "-ai", "sai", input="yo\n")
    assert (out.returncode, out.stdout, out.stderr) == (6, "got yo\n", "")
    # Again: a second start -ai re-attaches stdin to the restarted container.
    out = docker("start", "-ai", "sai", input="again\n")
    assert (out.returncode, out.stdout, out.stderr) == (6, "got again\n", "")


def test_attach_stdin_eof_ends_the_output_of_a_container_without_stdin_once(docker) -> None:
    # moby's CopyStreams: the client's EOF closes the container's stdin only for
    # StdinOnce without a TTY; otherwise it ends the attach's output, and docker
    # attach then waits for the container and exits with its code.
    docker.ok("run", "-d", "-i", "--name", "eof", "busybox",
              "sh", "-c", "read x; sleep 1; echo got $x; exit 5")  # fmt: skip
    out = docker("attach", "eof", input="hello\n")
    assert (out.returncode, out.stdout) == (5, "")
