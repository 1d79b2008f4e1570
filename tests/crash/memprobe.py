"""A probe for per-run memory growth in pierd (not a test: a tool for the soak's
figure). It starts a pierd under tracemalloc, runs `docker run --rm busybox true`
N times from a few clients, and prints how pierd's VmRSS and PSS moved between the
warm-up and the end, and the allocation sites that grew most.

    python tests/crash/memprobe.py [--runs 300] [--clients 4] [--network bridge]

pierd is started with a sitecustomize that turns tracemalloc on at SIGUSR1 and writes a
snapshot at SIGUSR2, so the snapshots come from the daemon itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from pier_testing.daemon import PierDaemon
from pier_testing.images import write_busybox_tar
from pier_testing.leaks import Scope

# Imported by every Python process started with the probe's directory first on
# PYTHONPATH; only the daemon is (the docker CLI is not Python).
# Tracing starts at SIGUSR1, once pierd answers: traced imports take many times longer.
_SITECUSTOMIZE = """\
import os, signal, tracemalloc
_out = os.environ.get("PIER_PROBE_SNAPSHOT")
if _out:
    def _start(signum, frame):
        tracemalloc.start(int(os.environ.get("PIER_PROBE_FRAMES", "12")))
    def _dump(signum, frame):
        tracemalloc.take_snapshot().dump(_out + ".tmp")
        os.replace(_out + ".tmp", _out)
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _dump)
"""


class ProbedDaemon(PierDaemon):
    def start(self) -> None:
        hook = self.base / "probe-site"
        hook.mkdir(exist_ok=True)
        (hook / "sitecustomize.py").write_text(_SITECUSTOMIZE)
        saved = dict(os.environ)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(hook), saved.get("PYTHONPATH", "")) if p
        )
        os.environ["PIER_PROBE_SNAPSHOT"] = str(self.base / "snapshot")
        try:
            super().start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR1)

    def snapshot(self) -> tracemalloc.Snapshot:
        path = self.base / "snapshot"
        path.unlink(missing_ok=True)
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 60
        while not path.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("pierd wrote no snapshot")
            time.sleep(0.1)
        return tracemalloc.Snapshot.load(str(path))


def status(pid: int) -> tuple[int, int]:
    """VmRSS and PSS of a process, KiB."""
    rss = next(
        int(ln.split()[1])
        for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ln.startswith("VmRSS:")
    )
    pss = next(
        int(ln.split()[1])
        for ln in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        if ln.startswith("Pss:")
    )
    return rss, pss


def runs(env: dict[str, str], count: int, clients: int, network: str) -> None:
    left = [count]
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            out = subprocess.run(
                ["docker", "run", "--rm", "--network", network, "busybox", "true"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if out.returncode != 0:
                failures.append(out.stderr.strip())

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} runs failed, first: {failures[0]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--network", default="bridge")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()

    daemon = ProbedDaemon(Scope())
    try:
        daemon.start()
        env = daemon.env()
        tar = write_busybox_tar(daemon.base / "busybox.tar")
        subprocess.run(["docker", "import", str(tar), "busybox:latest"], env=env, check=True)
        assert daemon.proc is not None
        pid = daemon.proc.pid
        runs(env, args.warm, args.clients, args.network)
        first = daemon.snapshot()
        rss0, pss0 = status(pid)
        started = time.monotonic()
        runs(env, args.runs, args.clients, args.network)
        took = time.monotonic() - started
        time.sleep(2)  # the collector runs 1 s after removals: let it settle
        last = daemon.snapshot()
        rss1, pss1 = status(pid)
        diff = last.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)]).compare_to(
            first.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)]), "traceback"
        )
        traced = sum(s.size_diff for s in diff)
        print(
            f"memprobe: {args.runs} runs (--network {args.network}, {args.clients} clients, "
            f"{took:.0f} s): VmRSS {rss0} -> {rss1} KiB ({(rss1 - rss0) / args.runs:+.2f}/run), "
            f"PSS {pss0} -> {pss1} KiB ({(pss1 - pss0) / args.runs:+.2f}/run), "
            f"traced {traced / args.runs / 1024:+.2f} KiB/run"
        )
        for stat in diff[: args.top]:
            print(f"{stat.size_diff / args.runs:+8.0f} B/run {stat.count_diff:+6d} blocks")
            for line in stat.traceback.format()[-8:]:
                print("    " + line)
        return 0
    finally:
        daemon.destroy()


if __name__ == "__main__":
    raise SystemExit(main())
