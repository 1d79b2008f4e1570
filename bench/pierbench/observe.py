"""Workloads of watching running containers: stats, and the cost of health checks."""

from __future__ import annotations

import contextlib
import os
import statistics
import time

from .engines import Engine, Unavailable, http_get
from .images import BUSYBOX_REF
from .proc import CommandFailed, all_pids, cmdline, parent_of, run
from .results import MetricSpec, Unit
from .workloads import Context, Value, Workload

_TICKS = os.sysconf("SC_CLK_TCK")


def _start_sleepers(engine: Engine, count: int, *extra: str) -> list[str]:
    env = engine.client_env()
    argv = [engine.docker_cli, "run", "-d", "--network", "none", *extra, BUSYBOX_REF,
            "sleep", "3600"]  # fmt: skip
    return [run(argv, env=env).stdout.strip() for _ in range(count)]


def daemon_pids(engine: Engine) -> set[int]:
    """The engine's daemon processes: pierd; dockerd and the containerd it spawned (not
    the shims); podman's service."""
    if engine.process is None or engine.process.poll() is not None:
        raise Unavailable("the daemon is not running")
    root = engine.process.pid
    out = {root}
    for pid in all_pids():
        if parent_of(pid) == root:
            line = cmdline(pid)
            if "containerd" in line and "shim" not in line:
                out.add(pid)
    return out


def cpu_seconds(pids: set[int]) -> float:
    """utime + stime of the processes themselves (not their children)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


class Stats(Workload):
    name = "stats"
    summary = "GET /containers/{id}/stats?stream=false, docker stats --no-stream of N"

    @property
    def count(self) -> int:
        return 10 if self.quick else 50

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(
                key="one",
                label="API GET /containers/{id}/stats?stream=false, one container",
                unit=Unit.SECONDS,
            ),
            MetricSpec(
                key="cli",
                label=f"docker stats --no-stream, {self.count} containers",
                unit=Unit.SECONDS,
            ),
        ]

    def reps(self) -> int:
        return 2 if self.quick else 5

    def params(self) -> dict[str, object]:
        return {"containers": self.count}

    def __init__(self, *, quick: bool) -> None:
        super().__init__(quick=quick)
        self._ids: dict[str, list[str]] = {}

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        engine.remove_all_containers()
        self._ids[engine.name] = _start_sleepers(engine, self.count)
        self._one(engine)
        engine.docker("stats", "--no-stream", timeout=120)

    def _one(self, engine: Engine) -> float:
        start = time.perf_counter()
        cid = self._ids[engine.name][0]
        status, body = http_get(engine.socket, f"/containers/{cid}/stats?stream=false")
        elapsed = time.perf_counter() - start
        if status != 200 or b'"cpu_stats"' not in body:
            raise Unavailable(f"stats answered {status}")
        return elapsed

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        def one() -> float:
            return statistics.median(self._one(engine) for _ in range(3))

        def cli() -> float:
            out = engine.docker("stats", "--no-stream", timeout=120)
            if len(out.stdout.splitlines()) != self.count + 1:
                raise Unavailable("docker stats did not list every container")
            return out.seconds

        return {"one": self.attempt(engine, "one", one), "cli": self.attempt(engine, "cli", cli)}

    def teardown(self, ctx: Context, engine: Engine) -> None:
        engine.remove_all_containers()


class Health(Workload):
    name = "health"
    summary = "N containers with a 1 s health check: the daemon's CPU time over a minute"

    @property
    def count(self) -> int:
        return 10 if self.quick else 50

    @property
    def seconds(self) -> float:
        return 15.0 if self.quick else 60.0

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(
                key="cpu",
                label=(
                    f"{self.count} containers with a 1 s health check, {self.seconds:g} s: "
                    "daemon CPU time (pierd / dockerd + containerd / podman service)"
                ),
                unit=Unit.SECONDS,
            )
        ]

    def reps(self) -> int:
        return 1 if self.quick else 2

    def params(self) -> dict[str, object]:
        return {"containers": self.count, "seconds": self.seconds, "interval": "1s"}

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        engine.remove_all_containers()

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        def cpu() -> float:
            engine.remove_all_containers()
            ids = _start_sleepers(
                engine, self.count, "--health-cmd", "true", "--health-interval", "1s"
            )
            try:
                deadline = time.monotonic() + 60
                while True:
                    out = engine.docker("ps", "--filter", "health=healthy", "-q", timeout=60)
                    if len(out.stdout.split()) == len(ids):
                        break
                    if time.monotonic() > deadline:
                        raise Unavailable("the containers did not all become healthy")
                    time.sleep(0.5)
                pids = daemon_pids(engine)
                before = cpu_seconds(pids)
                time.sleep(self.seconds)  # the measured period itself
                return cpu_seconds(pids) - before
            finally:
                with contextlib.suppress(CommandFailed):
                    engine.remove_all_containers()

        return {"cpu": self.attempt(engine, "cpu", cpu)}

    def teardown(self, ctx: Context, engine: Engine) -> None:
        engine.remove_all_containers()


WORKLOADS: list[type[Workload]] = [Stats, Health]
