"""The workloads. Each one measures every engine once per repetition; the runner
alternates engines within a repetition (A B C A B C ...).

A workload never invents a figure: whatever fails for an engine becomes that metric's
n/a, with the error as the reason, and is not tried again for that engine.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .engines import Engine, Unavailable, http_get
from .images import BUSYBOX_REF, IPERF_REF, Registry, free_port
from .proc import CommandFailed, median_time, pss_bytes, run, run_many, used_memory_bytes
from .results import Better, MetricSpec, Unit

Value = float | str  # a figure, or the reason there is none


@dataclass(slots=True, kw_only=True)
class Context:
    workdir: Path
    quick: bool
    engines: list[Engine]
    missing_images: dict[tuple[str, str], str] = field(default_factory=dict)
    registry: Registry | None = None
    push_registry: Registry | None = None
    big_refs: dict[str, str] = field(default_factory=dict)
    big_reason: str = "not prepared"

    def need_image(self, engine: Engine, ref: str) -> None:
        reason = self.missing_images.get((engine.name, ref))
        if reason is not None:
            raise Unavailable(f"no image {ref}: {reason}")


class Workload:
    name = ""
    summary = ""

    def __init__(self, *, quick: bool) -> None:
        self.quick = quick
        self._failed: dict[tuple[str, str], str] = {}
        # Facts a reader needs to judge a figure (e.g. what "default network" meant).
        self.notes: dict[str, str] = {}

    def specs(self) -> list[MetricSpec]:
        raise NotImplementedError

    def reps(self) -> int:
        raise NotImplementedError

    def params(self) -> dict[str, object]:
        return {}

    def setup(self, ctx: Context, engine: Engine) -> None:
        """Prepare, and try each thing once untimed (warm-up and capability probe)."""

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        raise NotImplementedError

    def teardown(self, ctx: Context, engine: Engine) -> None:
        """Remove what setup and measure made in this engine."""

    def machine(self, ctx: Context, rep: int) -> dict[str, Value]:
        """Figures of the machine itself (floors), measured once per repetition."""
        return {}

    def attempt(self, engine: Engine, key: str, action: Callable[[], float]) -> Value:
        """Run `action` unless it failed before for this engine; a failure is remembered."""
        failed = self._failed.get((engine.name, key))
        if failed is not None:
            return failed
        try:
            return action()
        except (CommandFailed, Unavailable, OSError, ValueError, KeyError) as exc:
            self._failed[(engine.name, key)] = str(exc)
            return str(exc)


def _native(engine: Engine) -> list[str]:
    argv = engine.native()
    if argv is None:
        raise Unavailable(f"{engine.name} has no CLI of its own installed")
    return argv


def _run_native(engine: Engine, *args: str, timeout: float = 300) -> float:
    return run([*_native(engine), *args], env=engine.native_env(), timeout=timeout).seconds


# -- daemon idle memory, /_ping, CLI start-up ----------------------------------------


class Idle(Workload):
    name = "idle"
    summary = "daemon idle memory, /_ping latency, CLI start-up"

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(key="pss", label="daemon idle memory (PSS)", unit=Unit.BYTES),
            MetricSpec(key="ping", label="API GET /_ping", unit=Unit.SECONDS),
            MetricSpec(key="version", label="CLI start-up: docker version", unit=Unit.SECONDS),
            MetricSpec(
                key="version_native",
                label="CLI start-up: own CLI version (pier / docker / podman)",
                unit=Unit.SECONDS,
            ),
        ]

    def reps(self) -> int:
        return 3 if self.quick else 10

    def setup(self, ctx: Context, engine: Engine) -> None:
        engine.remove_all_containers()
        engine.docker("version")

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        def ping() -> float:
            samples = []
            for _ in range(20):
                start = time.perf_counter()
                status, _ = http_get(engine.socket, "/_ping")
                samples.append(time.perf_counter() - start)
                if status != 200:
                    raise Unavailable(f"/_ping answered {status}")
            return statistics.median(samples)

        return {
            "pss": self.attempt(engine, "pss", lambda: float(pss_bytes(engine.pids()))),
            "ping": self.attempt(engine, "ping", ping),
            "version": self.attempt(engine, "version", lambda: engine.docker("version").seconds),
            "version_native": self.attempt(
                engine, "version_native", lambda: _run_native(engine, "version")
            ),
        }


# -- run --rm busybox true -------------------------------------------------------------


class RunSingle(Workload):
    name = "run"
    summary = "run --rm busybox true, one at a time"

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(key="default", label="run --rm busybox true", unit=Unit.SECONDS),
            MetricSpec(key="none", label="run --rm --network none busybox true", unit=Unit.SECONDS),
            MetricSpec(
                key="none_native",
                label="run --rm --network none busybox true (own CLI)",
                unit=Unit.SECONDS,
            ),
        ]

    def reps(self) -> int:
        return 3 if self.quick else 10

    def _do(self, engine: Engine) -> dict[str, Value]:
        return {
            "default": self.attempt(
                engine, "default", lambda: engine.docker("run", "--rm", BUSYBOX_REF, "true").seconds
            ),
            "none": self.attempt(
                engine,
                "none",
                lambda: (
                    engine.docker("run", "--rm", "--network", "none", BUSYBOX_REF, "true").seconds
                ),
            ),
            "none_native": self.attempt(
                engine,
                "none_native",
                lambda: _run_native(
                    engine, "run", "--rm", "--network", "none", BUSYBOX_REF, "true"
                ),
            ),
        }

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        self._do(engine)
        with contextlib.suppress(CommandFailed):
            cid = engine.docker("create", BUSYBOX_REF, "true").stdout.strip()
            fmt = (
                "{{.HostConfig.NetworkMode}}: "
                "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"
            )
            mode = engine.docker("inspect", "-f", fmt, cid).stdout.strip()
            engine.docker("rm", "-f", cid)
            self.notes[engine.name] = f"default network of `run`: {mode}"
            networks = mode.partition(":")[2].split()
            if not networks or set(networks) <= {"none", "host"}:
                # Without a bridge the row would compare no networking with networking.
                self._failed[(engine.name, "default")] = (
                    f"its default network is {mode!r}, not a bridge: not comparable"
                )

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        return self._do(engine)


def _run_argv(engine: Engine) -> list[str]:
    return [engine.docker_cli, "run", "--rm", "--network", "none", BUSYBOX_REF, "true"]


class _RunBatch(Workload):
    """N x `run --rm --network none busybox true`; subclasses say how many and how."""

    how = ""  # "in a row" / "at once"
    counts = (0, 0)  # (quick, full)
    rep_counts = (0, 0)

    @property
    def count(self) -> int:
        return self.counts[0] if self.quick else self.counts[1]

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(
                key="total",
                label=f"{self.count} x run --rm --network none busybox true, {self.how}",
                unit=Unit.SECONDS,
            )
        ]

    def reps(self) -> int:
        return self.rep_counts[0] if self.quick else self.rep_counts[1]

    def params(self) -> dict[str, object]:
        return {"count": self.count}

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        run(_run_argv(engine), env=engine.client_env())

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        return {"total": self.attempt(engine, "total", lambda: self.batch(engine))}

    def batch(self, engine: Engine) -> float:
        raise NotImplementedError


class RunSerial(_RunBatch):
    name = "serial"
    summary = "N x run --rm --network none busybox true, in a row"
    how = "in a row"
    counts = (20, 100)
    rep_counts = (1, 3)

    def batch(self, engine: Engine) -> float:
        env = engine.client_env()
        start = time.perf_counter()
        for _ in range(self.count):
            run(_run_argv(engine), env=env)
        return time.perf_counter() - start


class RunParallel(_RunBatch):
    name = "parallel"
    summary = "N x run --rm --network none busybox true, all at once"
    how = "at once"
    counts = (10, 20)
    rep_counts = (2, 5)

    def batch(self, engine: Engine) -> float:
        argvs = [_run_argv(engine) for _ in range(self.count)]
        return run_many(argvs, env=engine.client_env(), timeout=600)


# -- density ----------------------------------------------------------------------------


class Density(Workload):
    name = "density"
    summary = "N idle busybox sleep containers: start, memory, API, remove"

    @property
    def count(self) -> int:
        return 20 if self.quick else 100

    def specs(self) -> list[MetricSpec]:
        n = self.count
        return [
            MetricSpec(
                key="start",
                label=f"start {n} idle containers (run -d, in a row)",
                unit=Unit.SECONDS,
            ),
            MetricSpec(
                key="pss_per",
                label="memory per idle container (PSS: engine, monitors, container)",
                unit=Unit.BYTES,
            ),
            MetricSpec(
                key="pss_added",
                label=f"memory per added idle container (PSS, from {n // 2} to {n})",
                unit=Unit.BYTES,
            ),
            MetricSpec(
                key="used_per",
                label="memory per idle container (system used memory)",
                unit=Unit.BYTES,
            ),
            MetricSpec(
                key="list_api", label=f"API GET /containers/json, {n} containers", unit=Unit.SECONDS
            ),
            MetricSpec(key="ps", label=f"docker ps, {n} containers", unit=Unit.SECONDS),
            MetricSpec(key="ps_native", label=f"own CLI ps, {n} containers", unit=Unit.SECONDS),
            MetricSpec(
                key="remove", label=f"remove {n} containers (rm -f, one command)", unit=Unit.SECONDS
            ),
        ]

    def reps(self) -> int:
        return 1 if self.quick else 3

    # `--network none`; the density-bridge workload runs them on the default bridge.
    network_args: tuple[str, ...] = ("--network", "none")

    def params(self) -> dict[str, object]:
        network = self.network_args[1] if self.network_args else "default"
        return {"count": self.count, "command": "sleep 3600", "network": network}

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        engine.remove_all_containers()
        cid = engine.docker("run", "-d", *self.network_args, BUSYBOX_REF, "sleep", "3600")
        engine.docker("rm", "-f", cid.stdout.strip())

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        out: dict[str, Value] = {}
        engine.remove_all_containers()
        # A removal's stragglers (monitors exiting, Podman's `container cleanup`
        # processes) would count in the baseline and make every container look lighter.
        _settle(engine)
        pss_before = pss_bytes(engine.pids())
        used_before = used_memory_bytes()
        ids: list[str] = []
        env = engine.client_env()
        argv = [engine.docker_cli, "run", "-d", *self.network_args, BUSYBOX_REF, "sleep", "3600"]
        half = self.count // 2
        pss_half = 0
        try:
            started = 0.0
            for upto in (half, self.count):
                start = time.perf_counter()
                while len(ids) < upto:
                    ids.append(run(argv, env=env).stdout.strip())
                started += time.perf_counter() - start
                time.sleep(2)  # let monitors and daemons settle after the burst
                _settle(engine)
                if upto == half:
                    pss_half = pss_bytes(engine.pids())
            out["start"] = started
        except CommandFailed as exc:
            reason = f"after {len(ids)} containers: {exc}"
            self._cleanup_ids(engine, ids)
            keys = ("start", "pss_per", "pss_added", "used_per", "list_api", "ps", "ps_native")
            return dict.fromkeys((*keys, "remove"), reason)
        pss_full = pss_bytes(engine.pids())
        out["pss_per"] = (pss_full - pss_before) / self.count
        # The slope: what one more idle container costs once some run. The row above
        # also spreads one-off costs over N (the first monitor's shared libraries, an
        # engine's caches filling) and, for a garbage-collected engine, the heap the
        # previous repetition left behind and gives back meanwhile (bench/README.md).
        out["pss_added"] = (pss_full - pss_half) / (self.count - half)
        out["used_per"] = (used_memory_bytes() - used_before) / self.count

        def list_api() -> float:
            samples = []
            for _ in range(10):
                start = time.perf_counter()
                status, body = http_get(engine.socket, "/containers/json")
                samples.append(time.perf_counter() - start)
                if status != 200 or len(json.loads(body or b"[]")) < self.count:
                    raise Unavailable(f"GET /containers/json: {status}, wrong count")
            return statistics.median(samples)

        out["list_api"] = self.attempt(engine, "list_api", list_api)
        # Five of each, as the scale rows: one CLI start is a few milliseconds either way.
        out["ps"] = self.attempt(
            engine, "ps", lambda: median_time(lambda: engine.docker("ps"), samples=5, budget=30)
        )
        out["ps_native"] = self.attempt(
            engine,
            "ps_native",
            lambda: median_time(lambda: _run_native(engine, "ps"), samples=5, budget=30),
        )
        out["remove"] = self.attempt(
            engine, "remove", lambda: engine.docker("rm", "-f", *ids, timeout=900).seconds
        )
        self._cleanup_ids(engine, ids)
        return out

    @staticmethod
    def _cleanup_ids(engine: Engine, ids: list[str]) -> None:
        with contextlib.suppress(CommandFailed):
            engine.remove_all_containers()

    def teardown(self, ctx: Context, engine: Engine) -> None:
        engine.remove_all_containers()


def _settle(engine: Engine, timeout: float = 30.0) -> None:
    """Until the engine's processes are the same two readings 0.5 s apart (or the
    timeout: a busy engine is measured as it is)."""
    deadline = time.monotonic() + timeout
    seen = engine.pids()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = engine.pids()
        if now == seen:
            return
        seen = now


class DensityBridge(Density):
    """The same idle containers on the default bridge: what a veth, an address and
    the engine's per-endpoint state cost next to `--network none`."""

    name = "density-bridge"
    summary = "N idle busybox sleep containers on the default bridge: memory and start"
    network_args = ()

    kept = ("start", "pss_per", "pss_added", "used_per")

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(key=m.key, label=m.label + " [default bridge]", unit=m.unit)
            for m in super().specs()
            if m.key in self.kept
        ]

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        out = super().measure(ctx, engine, rep)
        return {k: v for k, v in out.items() if k in self.kept}


# -- DNS -----------------------------------------------------------------------------------


class DnsLookup(Workload):
    """Name look-ups through the engine's embedded DNS on a user-defined network: a
    client container resolves a peer's name N times with busybox nslookup inside one
    exec; the same loop running `true` is subtracted (process start-up, exec)."""

    name = "dns"
    summary = "DNS look-up latency on a user-defined network (embedded resolver)"

    @property
    def lookups(self) -> int:
        return 50 if self.quick else 200

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(
                key="lookup",
                label="DNS look-up of a container name on a user network",
                unit=Unit.SECONDS,
            )
        ]

    def reps(self) -> int:
        return 3 if self.quick else 10

    def params(self) -> dict[str, object]:
        return {"lookups": self.lookups, "client": "busybox nslookup"}

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        with contextlib.suppress(CommandFailed):
            engine.docker("network", "rm", "bench-dns")
        engine.docker("network", "create", "bench-dns")
        for name in ("bench-dns-target", "bench-dns-client"):
            engine.docker("run", "-d", "--name", name, "--network", "bench-dns", BUSYBOX_REF,
                          "sleep", "3600")  # fmt: skip
        self.measure(ctx, engine, -1)

    def _loop(self, engine: Engine, command: str) -> float:
        script = f"i=0; while [ $i -lt {self.lookups} ]; do {command}; i=$((i+1)); done"
        return engine.docker("exec", "bench-dns-client", "sh", "-c", script, timeout=300).seconds

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        def lookup() -> float:
            probe = engine.docker("exec", "bench-dns-client", "nslookup", "bench-dns-target")
            if "Address" not in probe.stdout.split("Name:")[-1]:
                raise Unavailable("the name does not resolve")
            with_dns = self._loop(engine, "nslookup bench-dns-target >/dev/null")
            base = self._loop(engine, "true >/dev/null")
            return max(with_dns - base, 0.0) / self.lookups

        return {"lookup": self.attempt(engine, "lookup", lookup)}

    def teardown(self, ctx: Context, engine: Engine) -> None:
        engine.remove_all_containers()
        with contextlib.suppress(CommandFailed):
            engine.docker("network", "rm", "bench-dns")


# -- logs ---------------------------------------------------------------------------------

_LINE = "0123456789" * 9 + "abcdefgh"  # 98 characters + newline from `yes`


class Logs(Workload):
    name = "logs"
    summary = "read back N MB of a container's output"

    @property
    def size(self) -> int:
        return (10 if self.quick else 100) * 1_000_000

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(
                key="read",
                label=f"logs: read back {self.size // 1_000_000} MB of output",
                unit=Unit.SECONDS,
            )
        ]

    def reps(self) -> int:
        return 2 if self.quick else 5

    def params(self) -> dict[str, object]:
        return {"bytes": self.size, "line_bytes": len(_LINE) + 1}

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        if self._exists(engine):
            engine.docker("rm", "-f", "bench-logs", timeout=60)
        engine.docker(
            "run",
            "-d",
            "--network",
            "none",
            # Every byte is read back: no engine may rotate (Pier's default does).
            "--log-opt",
            "max-size=1g",
            "--name",
            "bench-logs",
            BUSYBOX_REF,
            "sh",
            "-c",
            f"yes {_LINE} | head -c {self.size}",
        )
        code = engine.docker("wait", "bench-logs", timeout=600).stdout.strip()
        if code != "0":
            raise Unavailable(f"log writer exited {code}")
        self._read(engine)

    @staticmethod
    def _exists(engine: Engine) -> bool:
        try:
            engine.docker("inspect", "bench-logs")
        except CommandFailed:
            return False
        return True

    def _read(self, engine: Engine) -> float:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [engine.docker_cli, "logs", "bench-logs"],
            env=engine.client_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        total = 0
        while chunk := proc.stdout.read(1 << 20):
            total += len(chunk)
        proc.wait()
        elapsed = time.perf_counter() - start
        if proc.returncode != 0 or total < self.size * 0.99:
            raise Unavailable(f"docker logs exited {proc.returncode} after {total} bytes")
        return elapsed

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        return {"read": self.attempt(engine, "read", lambda: self._read(engine))}

    def teardown(self, ctx: Context, engine: Engine) -> None:
        engine.docker("rm", "-f", "bench-logs", timeout=120)


# -- build ------------------------------------------------------------------------------

_DOCKERFILE = """FROM busybox:latest
COPY a.txt /a.txt
RUN echo one > /one
ENV BENCH=1
COPY b.txt /b.txt
RUN cat /b.txt /a.txt > /c.txt
WORKDIR /work
RUN echo two > two && ls /work
LABEL bench=pier
COPY dir /dir
CMD ["sh"]
"""


class Build(Workload):
    name = "build"
    summary = "a 10-step Dockerfile: cold, fully cached, one COPY input changed"

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(key="cold", label="build 10 steps, no cache", unit=Unit.SECONDS),
            MetricSpec(key="cached", label="build 10 steps, fully cached", unit=Unit.SECONDS),
            MetricSpec(
                key="changed",
                label="build 10 steps, step 4's COPY input changed",
                unit=Unit.SECONDS,
            ),
        ]

    def reps(self) -> int:
        return 2 if self.quick else 5

    def _context(self, ctx: Context, engine: Engine) -> Path:
        path = ctx.workdir / f"build-{engine.name}"
        if not path.exists():
            (path / "dir").mkdir(parents=True)
            (path / "Dockerfile").write_text(_DOCKERFILE)
            (path / "a.txt").write_text("a\n" * 1000)
            (path / "b.txt").write_text("b0\n")
            for i in range(50):
                (path / "dir" / f"f{i}").write_text(f"{i}\n" * 100)
        return path

    def _build(self, engine: Engine, path: Path, *flags: str) -> float:
        return engine.docker(
            "build",
            *flags,
            "-t",
            "bench-build:latest",
            str(path),
            timeout=900,
            DOCKER_BUILDKIT="0",
        ).seconds

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        self._build(engine, self._context(ctx, engine), "--no-cache")

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        path = self._context(ctx, engine)
        out: dict[str, Value] = {}
        out["cold"] = self.attempt(engine, "cold", lambda: self._build(engine, path, "--no-cache"))
        out["cached"] = self.attempt(engine, "cached", lambda: self._build(engine, path))
        (path / "b.txt").write_text(f"b{rep + 1} {time.time_ns()}\n")
        out["changed"] = self.attempt(engine, "changed", lambda: self._build(engine, path))
        return out

    def teardown(self, ctx: Context, engine: Engine) -> None:
        engine.docker("rmi", "-f", "bench-build:latest", timeout=300)
        engine.docker("image", "prune", "-f", timeout=300)
        engine.remove_all_containers()


# -- pull and push --------------------------------------------------------------------------


class Pull(Workload):
    name = "pull"
    summary = "pull (cold, warm) and push of a ~200 MB multi-layer image, loopback registry"

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(
                key="cold", label="pull multi-layer Debian image (v1), cold", unit=Unit.SECONDS
            ),
            MetricSpec(
                key="warm", label="pull v2 over v1 (only the top 2 layers new)", unit=Unit.SECONDS
            ),
            MetricSpec(key="push", label="push v1 to an empty registry", unit=Unit.SECONDS),
            MetricSpec(
                key="floor",
                label="machine floor: read + gunzip + write the same layers (tar -xzf)",
                unit=Unit.SECONDS,
            ),
        ]

    def reps(self) -> int:
        return 1 if self.quick else 3

    def _refs(self, ctx: Context) -> tuple[str, str]:
        if not ctx.big_refs:
            raise Unavailable(ctx.big_reason)
        return ctx.big_refs["v1"], ctx.big_refs["v2"]

    def _clear(self, engine: Engine, *refs: str) -> None:
        engine.remove_all_containers()
        for ref in refs:
            with contextlib.suppress(CommandFailed):
                engine.docker("rmi", "-f", ref, timeout=300)

    def setup(self, ctx: Context, engine: Engine) -> None:
        v1, v2 = self._refs(ctx)
        self.notes["image"] = ctx.big_refs.get("info", "")
        self._clear(engine, v1, v2)
        engine.docker("pull", "-q", v1, timeout=1800)
        self._clear(engine, v1, v2)

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        v1, v2 = self._refs(ctx)
        push_registry = ctx.push_registry
        out: dict[str, Value] = {}
        self._clear(engine, v1, v2)
        out["cold"] = self.attempt(
            engine, "cold", lambda: engine.docker("pull", "-q", v1, timeout=1800).seconds
        )
        out["warm"] = self.attempt(
            engine, "warm", lambda: engine.docker("pull", "-q", v2, timeout=1800).seconds
        )

        def push() -> float:
            if push_registry is None:
                raise Unavailable("no second registry")
            target = f"{push_registry.address}/pushed:{engine.name}"
            engine.docker("tag", v1, target)
            push_registry.wipe()
            try:
                return engine.docker("push", "-q", target, timeout=1800).seconds
            finally:
                engine.docker("rmi", target)
                push_registry.wipe()

        out["push"] = self.attempt(engine, "push", push)
        self._clear(engine, v1, v2)
        return out

    def machine(self, ctx: Context, rep: int) -> dict[str, Value]:
        if ctx.registry is None or not ctx.big_refs:
            return {"floor": ctx.big_reason}
        repo, tag = ctx.big_refs["v1"].split("/", 1)[1].rsplit(":", 1)
        blobs = ctx.registry.layer_blobs(repo, tag)
        target = ctx.workdir / "floor"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        start = time.perf_counter()
        for blob in blobs:
            run(["tar", "-xzf", str(blob), "-C", str(target)], timeout=900)
        elapsed = time.perf_counter() - start
        shutil.rmtree(target, ignore_errors=True)
        return {"floor": elapsed}

    def teardown(self, ctx: Context, engine: Engine) -> None:
        if ctx.big_refs:
            self._clear(engine, *self._refs(ctx))


# -- network ------------------------------------------------------------------------------


def _iperf_rate(output: str) -> float:
    """Received bits/s from `iperf3 -J`; its own error message when the test failed."""
    doc = json.loads(output[output.index("{") :])
    if "error" in doc:
        raise Unavailable(f"iperf3: {doc['error']}")
    return float(doc["end"]["sum_received"]["bits_per_second"])


class Network(Workload):
    name = "network"
    summary = "TCP throughput (iperf3): container to container, and through a published port"

    def __init__(self, *, quick: bool) -> None:
        super().__init__(quick=quick)
        self._servers: dict[str, tuple[str, int | None]] = {}

    @property
    def seconds(self) -> int:
        return 2 if self.quick else 5

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(
                key="c2c",
                label="TCP container → container (default network)",
                unit=Unit.BITS_PER_SECOND,
                better=Better.HIGHER,
            ),
            MetricSpec(
                key="published",
                label="TCP host → published port (127.0.0.1)",
                unit=Unit.BITS_PER_SECOND,
                better=Better.HIGHER,
            ),
        ]

    def reps(self) -> int:
        return 1 if self.quick else 3

    def params(self) -> dict[str, object]:
        return {"seconds": self.seconds, "tool": "iperf3"}

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, IPERF_REF)
        port: int | None = free_port()
        try:
            engine.docker(
                "run",
                "-d",
                "--name",
                "bench-iperf",
                "-p",
                f"127.0.0.1:{port}:5201",
                IPERF_REF,
                "iperf3",
                "-s",
            )
        except CommandFailed as exc:
            self._failed[(engine.name, "published")] = str(exc)
            port = None
            with contextlib.suppress(CommandFailed):
                engine.docker("rm", "-f", "bench-iperf")
            engine.docker("run", "-d", "--name", "bench-iperf", IPERF_REF, "iperf3", "-s")
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        addresses = engine.docker("inspect", "-f", fmt, "bench-iperf").stdout.split()
        if not addresses:
            self._failed[(engine.name, "c2c")] = "the server container has no IP address"
        self._servers[engine.name] = (addresses[0] if addresses else "", port)
        time.sleep(0.5)
        self.measure(ctx, engine, -1)

    def _iperf(self, argv: list[str]) -> float:
        return _iperf_rate(run(argv, timeout=self.seconds + 60).stdout)

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        address, port = self._servers[engine.name]
        secs = str(self.seconds)

        def c2c() -> float:
            out = engine.docker(
                "run",
                "--rm",
                IPERF_REF,
                "iperf3",
                "-c",
                address,
                "-t",
                secs,
                "-J",
                timeout=self.seconds + 60,
            ).stdout
            return _iperf_rate(out)

        def published() -> float:
            if port is None:
                raise Unavailable("no published port")
            return self._iperf(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", secs, "-J"])

        return {
            "c2c": self.attempt(engine, "c2c", c2c),
            "published": self.attempt(engine, "published", published),
        }

    def teardown(self, ctx: Context, engine: Engine) -> None:
        engine.docker("rm", "-f", "bench-iperf", timeout=120)
        engine.remove_all_containers()


ALL: list[type[Workload]] = [
    Idle,
    RunSingle,
    RunSerial,
    RunParallel,
    Density,
    DensityBridge,
    DnsLookup,
    Logs,
    Build,
    Pull,
    Network,
]
