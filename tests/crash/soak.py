"""The load test (`make soak`): 20 concurrent `docker run --rm` clients (attached,
so every run goes through a hijacked connection and a /wait), plus a `docker ps`
client and a `docker logs` client, against one pierd for 3 minutes. It must end
with 0 errors, 0 leaks, and pierd's memory at the end within 10% of its level after
the first 30 s.

    python tests/crash/soak.py [--seconds 180] [--clients 20]

Not collected by pytest (its name): it is a run of minutes, not a test of seconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from pier_testing.crash import Checker, Ctx
from pier_testing.daemon import PierDaemon
from pier_testing.images import write_busybox_tar
from pier_testing.leaks import Scope

WARM_UP = 30.0  # memory is compared with its level at this point
TOLERANCE = 0.10


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: int = 0
    reads: int = 0
    errors: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


def pss(pid: int) -> int:
    """Proportional set size of a process, bytes."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no Pss in smaps_rollup")


def docker(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def runner(env: dict[str, str], until: float, tally: Tally, index: int) -> None:
    n = 0
    while time.monotonic() < until:
        n += 1
        word = f"run-{index}-{n}"
        out = docker(env, "run", "--rm", "busybox", "echo", word)
        if out.returncode != 0 or out.stdout.strip() != word:
            tally.error(f"run --rm: {out.returncode} {out.stdout!r} {out.stderr.strip()!r}")
        else:
            with tally.lock:
                tally.runs += 1


def reader(env: dict[str, str], until: float, tally: Tally, args: list[str]) -> None:
    while time.monotonic() < until:
        out = docker(env, *args)
        if out.returncode != 0:
            tally.error(f"{' '.join(args)}: {out.returncode} {out.stderr.strip()!r}")
        else:
            with tally.lock:
                tally.reads += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()

    scope = Scope()
    daemon = PierDaemon(scope)
    try:
        daemon.start()
        env = daemon.env()
        tar = write_busybox_tar(daemon.base / "busybox.tar")
        ctx = Ctx(daemon=daemon, busybox_tar=tar)
        checker = Checker(ctx)
        ctx.baseline = frozenset(checker.remains())  # the empty daemon's own (bridge...)
        assert docker(env, "import", str(tar), "busybox:latest").returncode == 0
        ticker = docker(
            env,
            "run",
            "-d",
            "--name",
            "ticker",
            "busybox",
            "sh",
            "-c",
            "while true; do echo tick; sleep 0.2; done",
        ).stdout.strip()
        assert ticker, "the ticker container did not start"
        assert daemon.proc is not None
        pid = daemon.proc.pid

        tally = Tally()
        started = time.monotonic()
        until = started + args.seconds
        threads = [
            threading.Thread(target=runner, args=(env, until, tally, i))
            for i in range(args.clients)
        ]
        threads.append(threading.Thread(target=reader, args=(env, until, tally, ["ps", "-a"])))
        threads.append(
            threading.Thread(
                target=reader, args=(env, until, tally, ["logs", "--tail", "20", "ticker"])
            )
        )
        for t in threads:
            t.start()
        # The moments memory is read at are the measurement, not a synchronisation.
        time.sleep(max(0.0, started + WARM_UP - time.monotonic()))
        warm = pss(pid)
        for t in threads:
            t.join()
        # Let the last removals' garbage collection run before the final figure.
        time.sleep(2)
        end = pss(pid)

        docker(env, "rm", "-f", "ticker")
        leftovers = checker.leftovers()
        growth = (end - warm) / warm
        print(
            f"soak: {args.seconds:.0f} s, {args.clients} run --rm clients + ps + logs: "
            f"{tally.runs} runs, {tally.reads} reads, {len(tally.errors)} errors, "
            f"{len(leftovers)} leaks; pierd PSS after {WARM_UP:.0f} s {warm / 2**20:.1f} MiB, "
            f"at the end {end / 2**20:.1f} MiB ({growth:+.1%})"
        )
        for line in tally.errors[:10] + leftovers[:10]:
            print("  " + line)
        ok = not tally.errors and not leftovers and growth <= TOLERANCE
        return 0 if ok else 1
    finally:
        daemon.destroy()


if __name__ == "__main__":
    raise SystemExit(main())
