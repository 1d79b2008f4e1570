"""Running commands, timing them, and reading what processes cost (PSS, used memory)."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class CommandFailed(Exception):
    """A command exited non-zero or timed out; the message carries the tail of stderr."""

    def __init__(self, argv: Sequence[str], returncode: int | None, stderr: str) -> None:
        tail = " ".join(stderr.strip().splitlines()[-3:])[-400:]
        super().__init__(f"`{' '.join(argv)}` exited {returncode}: {tail}")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True, slots=True, kw_only=True)
class Timed:
    seconds: float
    stdout: str


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    input_bytes: bytes | None = None,
    cwd: Path | None = None,
) -> Timed:
    """Run to completion, timing the whole process life; raise CommandFailed if it fails."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            list(argv),
            env=dict(env) if env is not None else None,
            input=input_bytes,
            capture_output=True,
            timeout=timeout,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if exc.stderr else ""
        raise CommandFailed(argv, None, f"timed out after {timeout} s {err}") from exc
    except OSError as exc:
        raise CommandFailed(argv, None, str(exc)) from exc
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr.decode(errors="replace"))
    return Timed(seconds=elapsed, stdout=proc.stdout.decode(errors="replace"))


def run_many(
    argvs: Sequence[Sequence[str]], *, env: Mapping[str, str] | None = None, timeout: float = 300
) -> float:
    """Start all commands at once and time until the last one exits."""
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            list(a), env=dict(env) if env else None, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for a in argvs
    ]
    failures: list[str] = []
    deadline = start + timeout
    for argv, proc in zip(argvs, procs, strict=True):
        try:
            _, err = proc.communicate(timeout=max(0.1, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            failures.append(str(CommandFailed(argv, None, "timed out")))
            continue
        if proc.returncode != 0:
            failures.append(str(CommandFailed(argv, proc.returncode, err.decode(errors="replace"))))
    elapsed = time.perf_counter() - start
    if failures:
        raise CommandFailed(argvs[0], 1, f"{len(failures)} of {len(argvs)} failed: {failures[0]}")
    return elapsed


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def cmdline(pid: int) -> str:
    return _read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()


def parent_of(pid: int) -> int | None:
    stat = _read(f"/proc/{pid}/stat")
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    rest = stat[stat.rfind(")") + 2 :].split()
    return int(rest[1]) if len(rest) > 1 else None


def process_set(roots: Iterable[int], mentions: Sequence[str]) -> set[int]:
    """The roots, every process whose command line mentions one of `mentions` (monitors
    and shims reparent away from their daemon), and all their descendants."""
    pids = all_pids()
    parents = {pid: parent_of(pid) for pid in pids}
    chosen = {pid for pid in roots if pid in parents}
    if mentions:
        for pid in pids:
            line = cmdline(pid)
            if line and any(m in line for m in mentions):
                chosen.add(pid)
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if pid not in chosen and ppid in chosen:
                chosen.add(pid)
                changed = True
    chosen.discard(os.getpid())
    return chosen


def pss_bytes(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        for line in _read(f"/proc/{pid}/smaps_rollup").splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                break
    return total


def used_memory_bytes() -> int:
    """MemTotal - MemAvailable: what `free` calls used, page cache excluded."""
    fields: dict[str, int] = {}
    for line in _read("/proc/meminfo").splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if parts:
            fields[name] = int(parts[0]) * 1024
    return fields["MemTotal"] - fields["MemAvailable"]


def median_time(action: Callable[[], object], *, samples: int, budget: float) -> float:
    """The median of `samples` timings of `action`, fewer once they add up to `budget`
    seconds: one start of a CLI moves by milliseconds with the machine's other work."""
    times: list[float] = []
    while len(times) < samples and sum(times) < budget:
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def wait_until(predicate: object, *, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(interval)
    return False
