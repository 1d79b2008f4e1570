"""`python bench/run.py`: start the engines, make the images, run the workloads
alternately, print the table and write bench/results/<UTC time>.json."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from .cleanup import Cleanup
from .cluster import WORKLOADS as CLUSTER
from .data import WORKLOADS as DATA
from .engines import DockerEngine, Engine, PierEngine, PodmanEngine, Unavailable
from .images import (
    BUSYBOX_REF,
    IPERF_REF,
    Registry,
    build_big_images,
    busybox_tar,
    import_image,
    iperf_tar,
)
from .observe import WORKLOADS as OBSERVE
from .proc import CommandFailed
from .report import render_reasons, render_table
from .results import Metric, RunResult
from .scale import WORKLOADS as SCALE
from .workloads import ALL as _BASE
from .workloads import Context, Workload

ALL = [*_BASE, *OBSERVE, *DATA, *SCALE, *CLUSTER]

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO = BENCH_DIR.parent
ENGINES = ("pier", "docker", "podman")
MACHINE = "machine"
README_START = "<!-- bench:latest:start -->"
README_END = "<!-- bench:latest:end -->"


def log(message: str) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    names = [w.name for w in ALL]
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller counts")
    parser.add_argument(
        "--repeat", type=int, default=0, help="repetitions of each workload (default: its own)"
    )
    parser.add_argument("--only", default="", help=f"comma-separated workloads: {','.join(names)}")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated engines")
    parser.add_argument(
        "--docker-cli",
        default=os.environ.get("BENCH_DOCKER_CLI", ""),
        help="docker CLI to drive every engine (default: newest on PATH)",
    )
    parser.add_argument(
        "--pier-bin", default=str(REPO / ".venv" / "bin"), help="directory holding pierd and pier"
    )
    parser.add_argument("--results", default=str(BENCH_DIR / "results"))
    parser.add_argument(
        "--mirror",
        default=os.environ.get("BENCH_MIRROR", ""),
        help="Debian mirror for debootstrap (default: apt's)",
    )
    parser.add_argument(
        "--update-readme", action="store_true", help="write the table into bench/README.md"
    )
    parser.add_argument(
        "--render",
        metavar="JSON",
        default="",
        help="print the table of an earlier result, run nothing",
    )
    args = parser.parse_args(argv)
    args.only = [w for w in args.only.split(",") if w]
    for name in args.only:
        if name not in names:
            parser.error(f"unknown workload {name!r}; choose from {', '.join(names)}")
    args.engines = [e for e in args.engines.split(",") if e]
    for name in args.engines:
        if name not in ENGINES:
            parser.error(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")
    return args


def pick_docker_cli(explicit: str) -> str:
    """The newest docker CLI on PATH: Debian's docker.io brings a 20.10 one to /usr/bin,
    the project measures through 28.x where it is installed (/usr/local/bin)."""
    if explicit:
        return explicit
    best = "docker"
    best_version: tuple[int, ...] = (0, 0, 0)
    for directory in [*os.environ.get("PATH", "").split(":"), "/usr/local/bin", "/usr/bin"]:
        candidate = Path(directory) / "docker"
        if not candidate.is_file():
            continue
        out = subprocess.run(
            [str(candidate), "--version"], capture_output=True, text=True, check=False
        ).stdout
        match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
        if match:
            version = tuple(int(x) for x in match.groups())
            if version > best_version:
                best, best_version = str(candidate), version
    return best


def apt_mirror() -> str:
    """The Debian mirror apt uses (deb822 or one-line sources)."""
    for path in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(
        Path("/etc/apt/sources.list.d").glob("*")
    ):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for match in re.finditer(r"(?:URIs:|deb)\s+(\S+/debian)\s", text + "\n"):
            return match.group(1)
    return "http://deb.debian.org/debian"


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "not installed"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""


def machine_info(docker_cli: str) -> dict[str, object]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    os_release = dict(
        line.split("=", 1)
        for line in Path("/etc/os-release").read_text().splitlines()
        if "=" in line
    )
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_bytes": mem_kb * 1024,
        "kernel": platform.release(),
        "os": os_release.get("PRETTY_NAME", "").strip('"'),
        "cgroup": "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1/hybrid",
        "python": platform.python_version(),
        "docker_cli": f"{docker_cli}: {_version([docker_cli, '--version'])}",
        "crun": _version(["crun", "--version"]),
        "runc": _version(["runc", "--version"]),
        "conmon": _version(["conmon", "--version"]),
        "podman": _version(["podman", "--version"]),
        "dockerd": _version(["dockerd", "--version"]),
        "registry": _version(["docker-registry", "--version"]),
    }


def make_engines(
    names: Sequence[str], root: Path, docker_cli: str, pier_bin: Path, registries: Sequence[str]
) -> list[Engine]:
    engines: list[Engine] = []
    for name in names:
        if name == "pier":
            engines.append(PierEngine(root=root / "pier", docker_cli=docker_cli, bindir=pier_bin))
        elif name == "docker":
            engines.append(DockerEngine(root=root / "docker", docker_cli=docker_cli))
        else:
            engines.append(
                PodmanEngine(root=root / "podman", docker_cli=docker_cli, registries=registries)
            )
    return engines


def run_workload(
    wl: Workload, ctx: Context, all_engines: Sequence[Engine], result: RunResult, *, reps: int
) -> None:
    specs = wl.specs()
    metrics = {s.key: result.metric(wl.name, s) for s in specs}
    active: list[Engine] = []
    for engine in all_engines:
        if engine.reason:
            for metric in metrics.values():
                metric.mark_na(engine.name, engine.reason)
            continue
        log(f"{wl.name}: set up {engine.name}")
        try:
            wl.setup(ctx, engine)
            active.append(engine)
        except (Unavailable, CommandFailed, OSError, ValueError, KeyError) as exc:
            log(f"{wl.name}: {engine.name} n/a: {exc}")
            for metric in metrics.values():
                metric.mark_na(engine.name, str(exc))
            _teardown(wl, ctx, engine)
    for rep in range(reps):
        log(f"{wl.name}: repetition {rep + 1}/{reps}")
        for engine in list(active):  # A B C, A B C, ...
            try:
                values = wl.measure(ctx, engine, rep)
            except (Unavailable, CommandFailed, OSError, ValueError, KeyError) as exc:
                log(f"{wl.name}: {engine.name} failed: {exc}")
                for metric in metrics.values():
                    metric.mark_na(engine.name, str(exc))
                active.remove(engine)
                continue
            _record(metrics, engine.name, values)
        try:
            machine_values = wl.machine(ctx, rep)
        except (Unavailable, CommandFailed, OSError, ValueError, KeyError) as exc:
            machine_values = {k: str(exc) for k in metrics}
        _record(metrics, MACHINE, machine_values)
    for engine in active:
        _teardown(wl, ctx, engine)
    if wl.notes:
        result.options.setdefault("notes", {})[wl.name] = dict(wl.notes)


def _record(metrics: dict[str, Metric], engine: str, values: dict[str, float | str]) -> None:
    for key, value in values.items():
        metric = metrics.get(key)
        if metric is None:
            continue
        if isinstance(value, str):
            metric.mark_na(engine, value)
        else:
            metric.add(engine, float(value))


def _teardown(wl: Workload, ctx: Context, engine: Engine) -> None:
    try:
        wl.teardown(ctx, engine)
    except Exception as exc:
        log(f"{wl.name}: teardown of {engine.name}: {exc}")


def prepare_images(ctx: Context, engines: Sequence[Engine], needs_iperf: bool) -> None:
    images = [(BUSYBOX_REF, busybox_tar(ctx.workdir))]
    if needs_iperf:
        try:
            images.append((IPERF_REF, iperf_tar(ctx.workdir)))
        except Unavailable as exc:
            for engine in engines:
                ctx.missing_images[(engine.name, IPERF_REF)] = str(exc)
    for engine in engines:
        if engine.reason:
            continue
        for ref, tar in images:
            try:
                import_image(engine, tar, ref)
            except Unavailable as exc:
                log(f"{engine.name}: {exc}")
                ctx.missing_images[(engine.name, ref)] = str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return render_file(Path(args.render), update_readme_too=args.update_readme)
    if os.geteuid() != 0:
        print("bench: must run as root (it starts dockerd and podman)", file=sys.stderr)
        return 2
    selected = [cls(quick=args.quick) for cls in ALL if not args.only or cls.name in args.only]
    docker_cli = pick_docker_cli(args.docker_cli)
    started = dt.datetime.now(dt.UTC)
    result = RunResult(started=started.isoformat(timespec="seconds"))
    result.machine = machine_info(docker_cli)
    result.options = {
        "quick": args.quick,
        "only": args.only,
        "engines": args.engines,
        "order": "alternating per repetition: " + " ".join(args.engines),
        "workloads": {
            w.name: {"summary": w.summary, "reps": args.repeat or w.reps(), **w.params()}
            for w in selected
        },
    }
    cleanup = Cleanup()
    cleanup.install()
    workdir = Path(tempfile.mkdtemp(prefix="pier-bench-"))
    cleanup.push(f"remove {workdir}", lambda: shutil.rmtree(workdir, ignore_errors=True))
    names = {w.name for w in selected}
    try:
        registry = push_registry = None
        if "pull" in names:
            registry = Registry(root=workdir / "registry")
            push_registry = Registry(root=workdir / "registry-push")
            try:
                registry.start(cleanup)
                push_registry.start(cleanup)
            except Unavailable as exc:
                log(f"registry: {exc}")
                registry = push_registry = None
        regs = [r.address for r in (registry, push_registry) if r]
        engines = make_engines(args.engines, workdir, docker_cli, Path(args.pier_bin), regs)
        for engine in engines:
            log(f"start {engine.name}")
            try:
                engine.start(cleanup)
                log(f"{engine.name} {engine.version} on {engine.socket}")
            except (Unavailable, CommandFailed) as exc:
                engine.reason = f"{engine.name} is not available: {exc}"
                log(engine.reason)
        ctx = Context(
            workdir=workdir,
            quick=args.quick,
            engines=engines,
            registry=registry,
            push_registry=push_registry,
        )
        prepare_images(ctx, engines, needs_iperf="network" in names)
        if "pull" in names:
            ctx.big_reason = "no registry" if registry is None else "no docker engine to build it"
            builder = next((e for e in engines if e.name == "docker" and not e.reason), None)
            if registry is not None and builder is not None:
                log("making the multi-layer image (debootstrap, cached) and pushing it")
                try:
                    ctx.big_refs = build_big_images(
                        builder, registry, workdir, args.mirror or apt_mirror()
                    )
                except Unavailable as exc:
                    ctx.big_reason = str(exc)
                    log(ctx.big_reason)
        result.engines = {
            e.name: {
                "version": e.version,
                "available": not e.reason,
                "reason": e.reason,
                "socket": str(e.socket),
            }
            for e in engines
        }
        for wl in selected:
            run_workload(wl, ctx, engines, result, reps=args.repeat or wl.reps())
    except (KeyboardInterrupt, SystemExit) as exc:
        # Interrupted: the figures so far are real, so they are written, marked as such.
        status = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 130
        result.options["interrupted"] = True
        log("interrupted")
    except Exception:
        traceback.print_exc()
        status = 1
        result.options["failed"] = True
    else:
        status = 0
    finally:
        log("cleaning up")
        cleanup.close()
    finished = dt.datetime.now(dt.UTC)
    result.finished = finished.isoformat(timespec="seconds")
    write_outputs(result, args, started)
    return status


def render(result: RunResult, engines: Sequence[str]) -> str:
    engine_rows = [
        m
        for m in result.metrics
        if MACHINE not in m.samples
        and MACHINE not in m.na
        and any(m.samples.get(e) or m.na.get(e) for e in engines)
    ]
    machine_rows = [m for m in result.metrics if MACHINE in m.samples or MACHINE in m.na]
    text = render_table(engine_rows, engines)
    if machine_rows:
        text += "\n" + render_table(machine_rows, [MACHINE])
        text += render_reasons(machine_rows, [MACHINE])
    notes = [
        f"- {wl}, {engine}: {note}"
        for wl, by_engine in result.options.get("notes", {}).items()
        for engine, note in by_engine.items()
    ]
    if notes:
        text += "\nNotes:\n\n" + "\n".join(notes) + "\n"
    reasons = render_reasons(engine_rows, engines)
    if reasons:
        text += "\nWhy n/a:\n\n" + reasons
    return text


def describe_machine(result: RunResult) -> str:
    m = result.machine
    mem = int(str(m.get("memory_bytes", 0))) / (1 << 30)
    engines = ", ".join(f"{n} {e.get('version') or 'n/a'}" for n, e in result.engines.items())
    mode = "quick" if result.options.get("quick") else "full"
    if result.options.get("interrupted"):
        measured = {m.workload for m in result.metrics if any(m.samples.values())}
        missing = [w for w in result.options.get("workloads", {}) if w not in measured]
        mode += ", interrupted" + (f"; not run: {', '.join(missing)}" if missing else "")
    return (
        f"Run {result.started} ({mode}): {m.get('cpus')} x {m.get('cpu')}, {mem:.1f} GiB, "
        f"{m.get('os')}, kernel {m.get('kernel')}, cgroup {m.get('cgroup')}; engines: {engines}; "
        f"client: {m.get('docker_cli')}.\n"
    )


def write_outputs(result: RunResult, args: argparse.Namespace, started: dt.datetime) -> None:
    table = render(result, args.engines)
    result.table = table
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{started.strftime('%Y-%m-%dT%H%M%SZ')}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(result.dumps())
    tmp.rename(path)
    header = describe_machine(result)
    print(header + "\n" + table, flush=True)
    log(f"results: {path}")
    if args.update_readme and (args.quick or args.only):
        log("quick or partial run: bench/README.md keeps its table")
    elif args.update_readme:
        block = header + "\n" + table + f"\nRaw figures: `bench/results/{path.name}`.\n"
        # The project README carries the latest table too (between the same markers).
        for readme in (BENCH_DIR / "README.md", BENCH_DIR.parent / "README.md"):
            update_readme(readme, block)


def update_readme(readme: Path, block: str) -> None:
    text = readme.read_text() if readme.exists() else ""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        log(f"{readme} has no {README_START} marker; not updated")
        return
    readme.write_text(text[: start + len(README_START)] + "\n" + block + text[end:])


def render_file(path: Path, *, update_readme_too: bool) -> int:
    """Re-render a result document: the table is derived data, the raw figures are the truth."""
    import json

    result = RunResult.from_json(json.loads(path.read_text()))
    engines = list(result.options.get("engines", ENGINES))
    text = describe_machine(result) + "\n" + render(result, engines)
    print(text, end="")
    if update_readme_too and not result.options.get("quick") and not result.options.get("only"):
        for readme in (BENCH_DIR / "README.md", BENCH_DIR.parent / "README.md"):
            update_readme(readme, text + f"\nRaw figures: `bench/results/{path.name}`.\n")
    return 0
