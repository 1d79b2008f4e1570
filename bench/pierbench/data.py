"""Workloads of moving data in and out of containers: `docker cp` of a directory tree
both ways, and `docker export` of a container's file system."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from .engines import Engine, Unavailable
from .images import BUSYBOX_REF
from .proc import CommandFailed
from .results import MetricSpec, Unit
from .workloads import Context, Value, Workload

_MB = 1_000_000


def _tree(root: Path, total: int, files: int) -> None:
    """`files` files of random bytes, `total` bytes in all, in 10 directories."""
    size = total // files
    for i in range(files):
        sub = root / f"d{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}").write_bytes(os.urandom(size))


class Copy(Workload):
    name = "cp"
    summary = "docker cp of a directory tree into and out of a running container"

    @property
    def size(self) -> int:
        return (20 if self.quick else 100) * _MB

    def specs(self) -> list[MetricSpec]:
        mb = self.size // _MB
        return [
            MetricSpec(key="in", label=f"cp: {mb} MB tree (1000 files) into a container",
                       unit=Unit.SECONDS),
            MetricSpec(key="out", label=f"cp: {mb} MB tree (1000 files) out of a container",
                       unit=Unit.SECONDS),
        ]  # fmt: skip

    def reps(self) -> int:
        return 2 if self.quick else 5

    def params(self) -> dict[str, object]:
        return {"bytes": self.size, "files": 1000}

    def _src(self, ctx: Context) -> Path:
        src = ctx.workdir / "cp-src" / "tree"
        if not src.exists():
            _tree(src, self.size, 1000)
        return src

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        with contextlib.suppress(CommandFailed):
            engine.docker("rm", "-f", "bench-cp", timeout=60)
        engine.docker("run", "-d", "--network", "none", "--name", "bench-cp", BUSYBOX_REF,
                      "sleep", "3600")  # fmt: skip
        src = self._src(ctx)
        engine.docker("cp", str(src), "bench-cp:/data", timeout=600)  # also the warm-up
        self._out(ctx, engine)

    def _in(self, ctx: Context, engine: Engine, rep: int) -> float:
        target = f"bench-cp:/in{rep}"
        seconds = engine.docker("cp", str(self._src(ctx)), target, timeout=600).seconds
        engine.docker("exec", "bench-cp", "rm", "-rf", f"/in{rep}", timeout=120)
        return seconds

    def _out(self, ctx: Context, engine: Engine) -> float:
        dest = ctx.workdir / f"cp-out-{engine.name}"
        shutil.rmtree(dest, ignore_errors=True)
        try:
            seconds = engine.docker("cp", "bench-cp:/data", str(dest), timeout=600).seconds
            copied = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
            if copied != self.size // 1000 * 1000:
                raise Unavailable(f"cp out copied {copied} bytes")
            return seconds
        finally:
            shutil.rmtree(dest, ignore_errors=True)

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        return {
            "in": self.attempt(engine, "in", lambda: self._in(ctx, engine, rep)),
            "out": self.attempt(engine, "out", lambda: self._out(ctx, engine)),
        }

    def teardown(self, ctx: Context, engine: Engine) -> None:
        engine.docker("rm", "-f", "bench-cp", timeout=120)


class Export(Workload):
    name = "export"
    summary = "docker export of a container of about 200 MB"

    @property
    def size(self) -> int:
        return (40 if self.quick else 200) * _MB

    def specs(self) -> list[MetricSpec]:
        return [MetricSpec(key="export",
                           label=f"export: container of {self.size // _MB} MB (+ busybox)",
                           unit=Unit.SECONDS)]  # fmt: skip

    def reps(self) -> int:
        return 2 if self.quick else 5

    def params(self) -> dict[str, object]:
        return {"bytes": self.size}

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        with contextlib.suppress(CommandFailed):
            engine.docker("rm", "-f", "bench-export", timeout=60)
        # 8 files of random bytes in the container's own layer
        per = self.size // 8
        script = f"for i in 1 2 3 4 5 6 7 8; do head -c {per} /dev/urandom > /big$i; done"
        engine.docker("run", "--network", "none", "--name", "bench-export", BUSYBOX_REF,
                      "sh", "-c", script, timeout=600)  # fmt: skip
        self._export(ctx, engine)

    def _export(self, ctx: Context, engine: Engine) -> float:
        out = ctx.workdir / f"export-{engine.name}.tar"
        try:
            seconds = engine.docker("export", "-o", str(out), "bench-export", timeout=600).seconds
            if out.stat().st_size < self.size:
                raise Unavailable(f"export wrote {out.stat().st_size} bytes")
            return seconds
        finally:
            with contextlib.suppress(FileNotFoundError):
                out.unlink()

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        return {"export": self.attempt(engine, "export", lambda: self._export(ctx, engine))}

    def teardown(self, ctx: Context, engine: Engine) -> None:
        engine.docker("rm", "-f", "bench-export", timeout=120)


WORKLOADS: list[type[Workload]] = [Copy, Export]
