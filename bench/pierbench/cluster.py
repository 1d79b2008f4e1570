"""Swarm mode across three nodes: scripts/cluster's three pierds, each in a network
namespace of its own with an etcd member. Pier only: the benchmark does not set up
three dockerds (or podmans) in namespaces, so the other engines get n/a with that
reason rather than a number measured some other way."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

from .engines import Engine, Unavailable
from .images import BUSYBOX_REF
from .observe import cpu_seconds
from .proc import CommandFailed, all_pids, cmdline, run
from .results import MetricSpec, Unit
from .workloads import Context, Value, Workload

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cluster"


class _Cluster:
    def __init__(self, workdir: Path, docker_cli: str) -> None:
        tag = secrets.token_hex(2)
        self.dir = workdir / f"swarm-{tag}"
        self.env = {
            **os.environ,
            "PIER_CLUSTER_DIR": str(self.dir),
            "PIER_CLUSTER_NAME": f"b{tag}",
            # The bench's own bridges use 10.213/10.214; this one is 10.215.0.0/24.
            "PIER_CLUSTER_NET": "10.215.0",
            "DOCKER": docker_cli,
        }
        self.docker_cli = docker_cli

    def script(self, *args: str) -> None:
        run([str(SCRIPT), *args], env=self.env, timeout=300)

    def docker(self, *args: str, node: int = 1) -> str:
        env = {**self.env, "DOCKER_HOST": f"unix://{self.dir}/node{node}/pier.sock"}
        env["DOCKER_CONFIG"] = str(self.dir / "docker-config")
        return run([self.docker_cli, *args], env=env, timeout=300).stdout

    def running(self, service: str, *, not_on: str = "") -> int:
        out = self.docker(
            "service", "ps", service, "--filter", "desired-state=running",
            "--format", "{{.CurrentState}} {{.Node}}",
        )  # fmt: skip
        return sum(
            1
            for line in out.splitlines()
            if line.startswith("Running") and not (not_on and line.endswith(not_on))
        )

    def wait(self, what: str, check: object, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():  # type: ignore[operator]
                return
            time.sleep(0.05)
        raise Unavailable(f"{what}: not within {timeout:g} s")

    def pierds(self) -> set[int]:
        return {p for p in all_pids() if "pierd" in cmdline(p) and str(self.dir) in cmdline(p)}

    def etcds(self) -> set[int]:
        return {
            p for p in all_pids()
            if cmdline(p).startswith(("etcd", "/usr/bin/etcd")) and str(self.dir) in cmdline(p)
        }  # fmt: skip


class Swarm(Workload):
    name = "swarm"
    summary = (
        "3-node swarm (scripts/cluster): service create --replicas 10 to all running; "
        "replacing a killed node's tasks; idle CPU"
    )

    def __init__(self, *, quick: bool) -> None:
        super().__init__(quick=quick)
        self._cluster: _Cluster | None = None

    @property
    def idle_seconds(self) -> float:
        return 15.0 if self.quick else 60.0

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(
                key="create",
                label="swarm: `service create -d --replicas 10` until 10 tasks run on 3 nodes",
                unit=Unit.SECONDS,
            ),
            MetricSpec(
                key="failover",
                label="swarm: a node killed (pierd and containers) until its tasks run elsewhere",
                unit=Unit.SECONDS,
            ),
            MetricSpec(
                key="idle_cpu",
                label=f"swarm idle, 3 nodes, {self.idle_seconds:g} s: pierds' CPU time",
                unit=Unit.SECONDS,
            ),
            MetricSpec(
                key="idle_etcd",
                label=f"swarm idle, 3 nodes, {self.idle_seconds:g} s: etcd members' CPU time",
                unit=Unit.SECONDS,
            ),
        ]

    def reps(self) -> int:
        return 1 if self.quick else 3

    def params(self) -> dict[str, object]:
        return {"replicas": 10, "nodes": 3, "idle_seconds": self.idle_seconds}

    def setup(self, ctx: Context, engine: Engine) -> None:
        if engine.name != "pier":
            raise Unavailable(
                "not set up by the benchmark: it would need three daemons in network "
                "namespaces for this engine too"
            )
        # scripts/cluster imports busybox:latest into every node itself.
        self._cluster = _Cluster(ctx.workdir, engine.docker_cli)
        self._cluster.script("up")

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        c = self._cluster
        if c is None:
            raise Unavailable("the cluster is not up")
        return {
            "create": self.attempt(engine, "create", lambda: self._create(c)),
            "failover": self.attempt(engine, "failover", lambda: self._failover(c)),
            "idle_cpu": self.attempt(engine, "idle", lambda: self._idle(c, c.pierds)),
            "idle_etcd": self.attempt(engine, "idle_etcd", lambda: self._idle(c, c.etcds)),
        }

    def _create(self, c: _Cluster) -> float:
        start = time.perf_counter()
        # --no-resolve-image: the CLI would otherwise ask the daemon for the image's digest
        # on Docker Hub, which an offline machine only answers with a DNS failure.
        c.docker("service", "create", "-d", "-q", "--no-resolve-image", "--name", "ten",
                 "--replicas", "10", BUSYBOX_REF, "top")  # fmt: skip
        c.wait("10 tasks running", lambda: c.running("ten") == 10)
        took = time.perf_counter() - start
        self._remove(c, "ten")
        return took

    def _failover(self, c: _Cluster) -> float:
        c.docker("service", "create", "-d", "-q", "--no-resolve-image", "--name", "fo",
                 "--replicas", "9", BUSYBOX_REF, "top")  # fmt: skip
        c.wait("9 tasks running", lambda: c.running("fo") == 9)
        victim = f"{c.env['PIER_CLUSTER_NAME']}-node3"
        start = time.perf_counter()
        c.script("kill", "3")
        c.wait("9 tasks on the live nodes", lambda: c.running("fo", not_on=victim) == 9, 60)
        took = time.perf_counter() - start
        c.script("start", "3")
        c.wait(
            "node 3 back", lambda: "Down" not in c.docker("node", "ls", "--format", "{{.Status}}")
        )
        self._remove(c, "fo")
        return took

    def _idle(self, c: _Cluster, which: object) -> float:
        pids = which()  # type: ignore[operator]
        if len(pids) != 3:
            raise Unavailable(f"expected 3 processes, found {len(pids)}")
        before = cpu_seconds(pids)
        time.sleep(self.idle_seconds)  # the measured period itself
        return cpu_seconds(pids) - before

    def _remove(self, c: _Cluster, service: str) -> None:
        c.docker("service", "rm", service)
        c.wait("tasks removed", lambda: not any(c.docker("ps", "-q", node=i) for i in (1, 2, 3)))

    def teardown(self, ctx: Context, engine: Engine) -> None:
        # Called for every engine, also those whose setup refused: only Pier's has the
        # cluster (Docker's teardown, after its refusal, used to bring Pier's down).
        if engine.name != "pier":
            return
        if self._cluster is not None:
            with contextlib.suppress(CommandFailed):
                self._cluster.script("down")
            self._cluster = None


WORKLOADS: list[type[Workload]] = [Swarm]
