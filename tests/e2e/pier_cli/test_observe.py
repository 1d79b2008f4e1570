"""pier's own update, stats, top and events, printed as docker prints them."""

from __future__ import annotations

import json
import re
import subprocess
import time

from pier_testing.daemon import PierDaemon

from .conftest import PIER, PierCLI


def test_update(cli: PierCLI) -> None:
    cli.ok("run", "-d", "--name", "u1", "busybox", "sleep", "600")
    assert cli.ok("update", "--cpu-shares", "512", "--pids-limit", "30", "u1") == "u1\n"
    assert cli.ok("inspect", "--format", "{{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}",
                  "u1") == "512 30\n"  # fmt: skip
    out = cli("update", "u1")
    assert out.returncode == 1
    assert "you must provide one or more flags when using this command" in out.stderr


def test_top(cli: PierCLI) -> None:
    cli.ok("run", "-d", "--name", "t1", "busybox", "sleep", "600")
    lines = cli.ok("top", "t1").splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert lines[1].endswith("sleep 600")
    # Widths as docker's tabwriter (minimum 20).
    assert lines[0].startswith("UID" + " " * 17 + "PID")
    assert cli.ok("top", "t1", "-o", "pid,comm").splitlines()[0].split() == ["PID", "COMMAND"]


def test_stats_no_stream_and_format(cli: PierCLI) -> None:
    cli.ok("run", "-d", "--name", "s1", "-m", "32m", "busybox", "sleep", "600")
    lines = cli.ok("stats", "--no-stream").splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
        "BLOCK I/O", "PIDS",
    ]  # fmt: skip
    assert re.match(r"[0-9a-f]{12}\s+s1\s+\d+\.\d\d%\s+[\d.]+[KMG]?i?B / 32MiB\s+", lines[1])
    assert cli.ok("stats", "--no-stream", "--format", "{{.Name}}: {{.PIDs}}", "s1") == "s1: 1\n"
    out = cli("stats", "--no-stream", "nope")
    assert out.returncode == 1
    assert out.stderr == "Error response from daemon: No such container: nope\n"


def test_stats_stream_redraws_in_place(cli: PierCLI, pier: PierDaemon) -> None:
    cli.ok("run", "-d", "--name", "s2", "busybox", "sleep", "600")
    proc = subprocess.Popen(
        [str(PIER), "-H", pier.host, "stats", "--format", "{{.Name}}"],
        env=pier.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        seen = b""
        deadline = time.monotonic() + 15
        while seen.count(b"\033[H") < 2:
            assert time.monotonic() < deadline
            seen += proc.stdout.read1(4096)  # type: ignore[attr-defined]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    frame = seen.split(b"\033[H")[1]
    assert frame == b"s2\033[K\n\033[J"


def test_events_pretty_and_format(cli: PierCLI) -> None:
    since = time.time()
    cli.ok("run", "--name", "e1", "--label", "k=v", "busybox", "true")
    until = f"{time.time():.3f}"
    out = cli.ok("events", "--since", f"{since:.3f}", "--until", until, "--filter", "event=die")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) container die [0-9a-f]{64} "
        r"\(execDuration=\d+, exitCode=0, image=busybox, k=v, name=e1\)\n",
        out,
    ), out
    out = cli.ok("events", "--since", f"{since:.3f}", "--until", until,
                 "--filter", "container=e1", "--format", "{{.Action}}")  # fmt: skip
    assert out.split() == ["create", "attach", "start", "die"]


def test_run_health_log_and_limit_flags(cli: PierCLI) -> None:
    cli.ok("run", "-d", "--name", "h1", "--health-cmd", "true", "--health-interval", "200ms",
           "--health-retries", "2", "--log-opt", "max-size=1m", "--memory", "32m",
           "--memory-swap", "64m", "--memory-reservation", "16m", "--cpu-shares", "256",
           "--pids-limit", "50", "busybox", "sleep", "600")  # fmt: skip
    hc = json.loads(cli.ok("inspect", "--format", "{{json .HostConfig}}", "h1"))
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "1m"}}
    assert (hc["Memory"], hc["MemorySwap"], hc["MemoryReservation"]) == (
        32 << 20,
        64 << 20,
        16 << 20,
    )
    assert (hc["CpuShares"], hc["PidsLimit"]) == (256, 50)
    check = json.loads(cli.ok("inspect", "--format", "{{json .Config.Healthcheck}}", "h1"))
    assert check == {"Test": ["CMD-SHELL", "true"], "Interval": 200_000_000, "Retries": 2}
    deadline = time.monotonic() + 20
    while cli.ok("inspect", "--format", "{{.State.Health.Status}}", "h1").strip() != "healthy":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert cli.ok("ps", "--format", "{{.Status}}").strip().endswith("(healthy)")
    out = cli("run", "--no-healthcheck", "--health-cmd", "true", "busybox", "true")
    assert out.returncode == 125
    assert "--no-healthcheck conflicts with --health-* options" in out.stderr
