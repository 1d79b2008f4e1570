"""How cost grows with work: listings with 10, 100 and 1000 objects, concurrent runs
of 20, 50 and 100, and 1000 idle containers.

Each step size is its own row, so the table shows the growth side by side; a step an
engine fails (a limit it hits) is that row's n/a, and the steps above it are not tried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .engines import Engine, Unavailable, http_get
from .images import BUSYBOX_REF
from .manyimages import DISTINCT_REPO, write_archive
from .proc import CommandFailed, median_time, run, run_many
from .results import MetricSpec, Unit
from .workloads import Context, Density, Value, Workload, _run_native

_SAMPLES = 5  # of each listing, per step and repetition: their median is the figure


# Seconds of samples of one listing by one engine after which no more are taken: Podman's
# own `podman images` with 1000 distinct images takes over 100 s, and five of them per
# step and repetition held a full run for an hour.
_BUDGET = 30.0


def _median_time(action: Callable[[], object]) -> float:
    return median_time(action, samples=_SAMPLES, budget=_BUDGET)


class _Steps(Workload):
    """Grows one kind of object step by step; at each step every engine is timed."""

    steps: tuple[tuple[int, ...], tuple[int, ...]] = ((0,), (0,))  # (quick, full)
    noun = ""

    @property
    def sizes(self) -> Sequence[int]:
        return self.steps[0] if self.quick else self.steps[1]

    def reps(self) -> int:
        return 1 if self.quick else 3

    def params(self) -> dict[str, object]:
        return {"steps": list(self.sizes)}

    def rows(self, n: int) -> list[MetricSpec]:
        raise NotImplementedError

    def specs(self) -> list[MetricSpec]:
        return [spec for n in self.sizes for spec in self.rows(n)]

    def grow_to(self, engine: Engine, n: int) -> None:
        raise NotImplementedError

    def _none_made(self, engine: Engine) -> None:
        # How many objects grow_to has made on each engine (setup runs once per engine).
        self._made: dict[str, int] = getattr(self, "_made", {})
        self._made[engine.name] = 0

    def timings(self, engine: Engine, n: int) -> dict[str, Callable[[], float]]:
        raise NotImplementedError

    def clear(self, engine: Engine) -> None:
        """Remove what grow_to made on `engine` (or left there by an earlier run)."""
        raise NotImplementedError

    def setup(self, ctx: Context, engine: Engine) -> None:
        self.clear(engine)
        self._none_made(engine)

    def teardown(self, ctx: Context, engine: Engine) -> None:
        self.clear(engine)

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        # Each repetition grows from none: with the last one's objects kept, every step
        # after the first repetition would list the largest count.
        if self._made[engine.name]:
            self.clear(engine)
            self._made[engine.name] = 0
        out: dict[str, Value] = {}
        for n in self.sizes:
            try:
                self.grow_to(engine, n)
            except (CommandFailed, Unavailable) as exc:
                reason = f"making {n} {self.noun}: {exc}"
                for bigger in (s for s in self.sizes if s >= n):
                    out.update(dict.fromkeys((m.key for m in self.rows(bigger)), reason))
                return out
            for key, action in self.timings(engine, n).items():
                out[key] = self.attempt(engine, key, action)
        return out


class ScalePs(_Steps):
    name = "scale-ps"
    summary = "ps -a and GET /containers/json?all=1 with 10, 100, 1000 containers"
    steps = ((10, 100), (10, 100, 1000))
    noun = "containers"

    def rows(self, n: int) -> list[MetricSpec]:
        return [
            MetricSpec(key=f"api_{n}", label=f"API GET /containers/json?all=1, {n} containers",
                       unit=Unit.SECONDS),
            MetricSpec(key=f"ps_{n}", label=f"docker ps -a, {n} containers", unit=Unit.SECONDS),
            MetricSpec(key=f"native_{n}", label=f"own CLI ps -a, {n} containers",
                       unit=Unit.SECONDS),
        ]  # fmt: skip

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        super().setup(ctx, engine)

    def clear(self, engine: Engine) -> None:
        engine.remove_all_containers()

    def grow_to(self, engine: Engine, n: int) -> None:
        # Created, not started: what is listed is the same record, and a thousand
        # running containers would measure the machine's memory, not the listing.
        have = self._made[engine.name]
        if have >= n:
            return
        env = engine.client_env()
        argv = [engine.docker_cli, "create", "--network", "none", BUSYBOX_REF, "true"]
        for _ in range(n - have):
            run(argv, env=env, timeout=120)
            self._made[engine.name] += 1

    def timings(self, engine: Engine, n: int) -> dict[str, Callable[[], float]]:
        def api() -> float:
            status, _ = http_get(engine.socket, "/containers/json?all=1")
            if status != 200:
                raise Unavailable(f"GET /containers/json answered {status}")
            return _median_time(lambda: http_get(engine.socket, "/containers/json?all=1"))

        return {
            f"api_{n}": api,
            f"ps_{n}": lambda: _median_time(lambda: engine.docker("ps", "-a")),
            f"native_{n}": lambda: _median_time(lambda: _run_native(engine, "ps", "-a")),
        }


def _get_ok(engine: Engine, path: str) -> None:
    status, body = http_get(engine.socket, path)
    if status != 200:
        raise Unavailable(f"GET {path} answered {status}: {body[:200]!r}")


class ScaleImages(_Steps):
    name = "scale-images"
    summary = "images with 10, 100, 1000 images (tags of busybox)"
    steps = ((10, 100), (10, 100, 1000))
    noun = "image tags"
    counted = "images"  # what the rows' labels call the n objects

    def rows(self, n: int) -> list[MetricSpec]:
        what = f"{n} {self.counted}"
        return [
            MetricSpec(key=f"api_{n}", label=f"API GET /images/json, {what}", unit=Unit.SECONDS),
            MetricSpec(key=f"images_{n}", label=f"docker images, {what}", unit=Unit.SECONDS),
            MetricSpec(key=f"native_{n}", label=f"own CLI images, {what}", unit=Unit.SECONDS),
            MetricSpec(key=f"inspect_{n}", label=f"API GET /images/{{name}}/json, {what}",
                       unit=Unit.SECONDS),
        ]  # fmt: skip

    prefix = "bench-scale/"  # of every repository the workload makes

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        super().setup(ctx, engine)

    def clear(self, engine: Engine) -> None:
        out = engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        mine = [ref for ref in out if ref.startswith(self.prefix)]
        for start in range(0, len(mine), 200):
            engine.docker("rmi", *mine[start : start + 200], timeout=600)

    def grow_to(self, engine: Engine, n: int) -> None:
        # Each is a repository:tag of its own (a row of `images`); making distinct
        # image contents would time the import, not the listing.
        have = self._made[engine.name]
        env = engine.client_env()
        for i in range(have, n):
            run([engine.docker_cli, "tag", BUSYBOX_REF, f"{self.prefix}img{i}:v1"], env=env)
            self._made[engine.name] = i + 1

    def timings(self, engine: Engine, n: int) -> dict[str, Callable[[], float]]:
        # The first image made: with tags of one image it carries all n of them, among
        # distinct images it is one lookup among n.
        inspect = f"/images/{self.prefix}img0:v1/json"
        return {
            f"api_{n}": lambda: _median_time(lambda: http_get(engine.socket, "/images/json")),
            f"images_{n}": lambda: _median_time(lambda: engine.docker("images")),
            f"native_{n}": lambda: _median_time(lambda: _run_native(engine, "images")),
            f"inspect_{n}": lambda: _median_time(lambda: _get_ok(engine, inspect)),
        }


class ScaleDistinctImages(ScaleImages):
    """As scale-images, with distinct images (one tag each) instead of tags of one:
    a listing then makes one record per image, not one record with N tags."""

    name = "scale-images-distinct"
    summary = "images with 10, 100, 1000 distinct images (loaded from one archive)"
    noun = "distinct images"
    counted = "distinct images"
    prefix = DISTINCT_REPO

    def reps(self) -> int:
        # One: loading, listing and removing a thousand distinct images takes Podman
        # about twenty minutes a repetition (over 100 s a listing), and three held a
        # full run for over an hour. Each row is still the median of its samples.
        return 1

    def setup(self, ctx: Context, engine: Engine) -> None:
        self._dir = ctx.workdir
        _Steps.setup(self, ctx, engine)  # no busybox: the archive brings its own layer

    def grow_to(self, engine: Engine, n: int) -> None:
        have = self._made[engine.name]
        if have >= n:
            return
        archive = self._dir / f"distinct-{have}-{n}.tar"
        if not archive.exists():  # the same bytes for every engine
            write_archive(archive, have, n)
        engine.docker("load", "-q", "-i", str(archive), timeout=600)
        self._made[engine.name] = n


class ScaleParallel(Workload):
    name = "scale-parallel"
    summary = "20, 50, 100 x run --rm --network none busybox true, all at once"

    @property
    def sizes(self) -> Sequence[int]:
        return (20, 50) if self.quick else (20, 50, 100)

    def specs(self) -> list[MetricSpec]:
        return [
            MetricSpec(
                key=f"at_once_{n}",
                label=f"{n} x run --rm --network none busybox true, at once",
                unit=Unit.SECONDS,
            )
            for n in self.sizes
        ]

    def reps(self) -> int:
        return 1 if self.quick else 3

    def params(self) -> dict[str, object]:
        return {"steps": list(self.sizes)}

    def setup(self, ctx: Context, engine: Engine) -> None:
        ctx.need_image(engine, BUSYBOX_REF)
        engine.docker("run", "--rm", "--network", "none", BUSYBOX_REF, "true")

    def measure(self, ctx: Context, engine: Engine, rep: int) -> dict[str, Value]:
        argv = [engine.docker_cli, "run", "--rm", "--network", "none", BUSYBOX_REF, "true"]
        env = engine.client_env()
        return {
            f"at_once_{n}": self.attempt(
                engine,
                f"at_once_{n}",
                lambda n=n: run_many([argv] * n, env=env, timeout=900),  # type: ignore[misc]
            )
            for n in self.sizes
        }


class Density1000(Density):
    """The density workload at a thousand idle containers (quick: 200)."""

    name = "density-1000"
    summary = "1000 idle busybox sleep containers: start, memory, API, remove"

    @property
    def count(self) -> int:
        return 200 if self.quick else 1000

    def reps(self) -> int:
        return 1


WORKLOADS: list[type[Workload]] = [
    ScalePs,
    ScaleImages,
    ScaleDistinctImages,
    ScaleParallel,
    Density1000,
]
