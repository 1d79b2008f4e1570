"""The docker CLI watching and steering running containers: update, stats, top,
events, health checks, restart policies, logs across rotation."""

from __future__ import annotations

import json
import re
import time

from pier_testing.daemon import PierDaemon

from .conftest import DockerCLI

MB = 1024 * 1024


def _until(predicate: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


def test_update_running_container(docker: DockerCLI) -> None:
    docker.ok("run", "-d", "--name", "upd", "busybox", "sleep", "600")
    out = docker("update", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5",
                 "--pids-limit", "40", "--restart", "on-failure:3", "upd")  # fmt: skip
    assert (out.returncode, out.stdout, out.stderr) == (0, "upd\n", "")
    hc = json.loads(docker.ok("inspect", "--format", "{{json .HostConfig}}", "upd"))
    assert (hc["Memory"], hc["MemorySwap"], hc["NanoCpus"], hc["PidsLimit"]) == (
        64 * MB,
        128 * MB,
        500_000_000,
        40,
    )
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}


def test_update_refusal_is_dockers(docker: DockerCLI) -> None:
    docker.ok("create", "--name", "upd2", "busybox", "true")
    out = docker("update", "--memory", "64m", "upd2")
    assert out.returncode == 1
    assert re.fullmatch(
        r"Error response from daemon: Cannot update container [0-9a-f]{64}: Memory limit "
        r"should be smaller than already set memoryswap limit, update the memoryswap at "
        r"the same time\n",
        out.stderr,
    ), out.stderr
    out = docker("update", "upd2")
    assert out.returncode == 1
    assert "you must provide one or more flags when using this command" in out.stderr


def test_stats_no_stream(docker: DockerCLI) -> None:
    docker.ok("run", "-d", "--name", "st1", "-m", "32m", "busybox", "sleep", "600")
    out = docker.ok("stats", "--no-stream")
    lines = out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
        "BLOCK I/O", "PIDS",
    ]  # fmt: skip
    assert len(lines) == 2
    assert re.match(
        r"[0-9a-f]{12}\s+st1\s+\d+\.\d\d%\s+[\d.]+[KMG]?i?B / 32MiB\s+\d+\.\d\d%", lines[1]
    )
    out = docker.ok("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "st1")
    assert out == "st1 1\n"


def test_top(docker: DockerCLI) -> None:
    docker.ok("run", "-d", "--name", "tp", "busybox", "sleep", "600")
    out = docker.ok("top", "tp")
    lines = out.splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert lines[1].endswith("sleep 600")
    out = docker.ok("top", "tp", "-o", "pid,comm")
    assert out.splitlines()[0].split() == ["PID", "COMMAND"]


def test_events_since_until(docker: DockerCLI) -> None:
    since = time.time()
    docker.ok("run", "--name", "ev", "busybox", "true")
    out = docker.ok("events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}",
                    "--filter", "container=ev", "--format", "{{.Type}} {{.Action}}")  # fmt: skip
    assert out.splitlines() == [
        "container create",
        "container attach",
        "container start",
        "container die",
    ] or out.splitlines()[:1] == ["container create"], out
    assert "container die" in out.splitlines()


def test_health_check_reaches_healthy_and_unhealthy(docker: DockerCLI) -> None:
    docker.ok("run", "-d", "--name", "good", "--health-cmd", "true", "--health-interval",
              "200ms", "busybox", "sleep", "600")  # fmt: skip
    docker.ok("run", "-d", "--name", "bad", "--health-cmd", "exit 1", "--health-interval",
              "200ms", "--health-retries", "1", "busybox", "sleep", "600")  # fmt: skip

    def status(name: str) -> str:
        return docker.ok("inspect", "--format", "{{.State.Health.Status}}", name).strip()

    _until(lambda: status("good") == "healthy" and status("bad") == "unhealthy")
    assert docker.ok("ps", "--filter", "health=healthy", "--format", "{{.Names}}") == "good\n"
    assert docker.ok("ps", "--format", "{{.Names}} {{.Status}}", "--filter", "name=bad").endswith(
        "(unhealthy)\n"
    )


def test_restart_policy_and_stop_of_a_restarting_container(docker: DockerCLI) -> None:
    docker.ok("run", "-d", "--name", "rs", "--restart", "always", "busybox", "sh", "-c",
              "sleep 0.2; exit 1")  # fmt: skip

    def count() -> int:
        return int(docker.ok("inspect", "--format", "{{.RestartCount}}", "rs"))

    _until(lambda: count() >= 2)
    docker.ok("stop", "rs")
    state = json.loads(docker.ok("inspect", "--format", "{{json .State}}", "rs"))
    assert (state["Status"], state["Restarting"], state["Running"]) == ("exited", False, False)
    n = count()
    time.sleep(0)  # nothing to wait for: a stopped container is not restarted
    assert count() == n
    # The docker CLI refuses --rm with a restart policy itself; the API's 400 is in
    # tests/integration/containers/test_bad_input.py (can't create 'AutoRemove' ...).
    out = docker("run", "--rm", "--restart", "always", "busybox", "true")
    assert out.returncode != 0
    assert "conflicting options: cannot specify both --restart and --rm" in out.stderr


def test_logs_across_rotation(docker: DockerCLI) -> None:
    docker.ok("run", "--name", "lg", "--log-opt", "max-size=20k", "--log-opt", "max-file=4",
              "busybox", "sh", "-c",
              "i=0; while [ $i -lt 800 ]; do i=$((i+1)); echo line-$i; "
              "[ $((i % 100)) = 0 ] && sleep 0.1; done; true")  # fmt: skip
    out = docker.ok("logs", "lg").split()
    numbers = [int(x.split("-")[1]) for x in out]
    assert numbers[-1] == 800 and numbers == list(range(numbers[0], 801))
    assert docker.ok("logs", "--tail", "3", "lg").split() == ["line-798", "line-799", "line-800"]
    cfg = json.loads(docker.ok("inspect", "--format", "{{json .HostConfig.LogConfig}}", "lg"))
    assert cfg == {"Type": "json-file", "Config": {"max-file": "4", "max-size": "20k"}}


def test_log_driver_none(docker: DockerCLI) -> None:
    docker.ok("run", "--name", "nolog", "--log-driver", "none", "busybox", "echo", "hi")
    out = docker("logs", "nolog")
    assert out.returncode == 1
    assert out.stderr == (
        "Error response from daemon: configured logging driver does not support reading\n"
    )


def test_info_figures(docker: DockerCLI, pier: PierDaemon) -> None:
    docker.ok("run", "-d", "--name", "inf", "busybox", "sleep", "600")
    docker.ok("create", "--name", "inf2", "busybox", "true")
    info = json.loads(docker.ok("info", "--format", "{{json .}}"))
    assert (info["Containers"], info["ContainersRunning"], info["ContainersStopped"]) == (2, 1, 1)
    assert info["LoggingDriver"] == "json-file"
    assert "local" in info["Plugins"]["Log"] and "none" in info["Plugins"]["Log"]
