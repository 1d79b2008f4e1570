"""The builder service: a context and a Dockerfile in, an image (and its tags) out.

`build` unpacks the context into a private directory, parses the Dockerfile, picks
the stages the target needs (the others are skipped), and runs every needed stage as
its own task: a stage waits for another only where it uses it (FROM a stage, COPY
--from), so independent stages build at the same time. Output reads as the classic
builder's, stage after stage (`OrderedOutput`). On failure the other stages are
cancelled and every snapshot, mount and cancelled container goes; the container of a
failed RUN stays unless `forcerm`, as dockerd leaves it. Nothing is tagged unless
the whole build succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pier.build import context as ctx
from pier.build.buildargs import BuildArgs, platform_args
from pier.build.cache import BuildCache
from pier.build.instructions import Dockerfile, Instruction, Stage, parse_dockerfile
from pier.build.lexer import Lexer
from pier.build.memory import MemoryContexts
from pier.build.model import (
    BuildContainers,
    BuildImages,
    BuildRequest,
    BuildResult,
    NoPuller,
    PruneReport,
    Puller,
)
from pier.build.output import BuildOutput, OrderedOutput
from pier.build.stage import StageRun
from pier.build.steps import Head, StepRunner, Write
from pier.errors import InvalidParameter, NotFound, PierError
from pier.images.archive import default_platform, parse_platform
from pier.images.model import ImageRecord
from pier.metadata import Database
from pier.oci.image import ImageConfig

log = logging.getLogger(__name__)


class Builder:
    def __init__(
        self,
        *,
        images: BuildImages,
        containers: BuildContainers,
        db: Database,
        puller: Puller | None = None,
        max_unpack_size: int | None = None,
    ) -> None:
        self._images = images
        self._max_unpack_size = max_unpack_size  # what one context may write
        self._containers = containers
        self._cache = BuildCache(db=db)
        self._puller: Puller = puller or NoPuller()
        self._active: set[asyncio.Task[Any]] = set()  # builds in progress
        self._memory = MemoryContexts(owner=str(images.tmp_dir))

    @property
    def tmp_dir(self) -> Path:
        return self._images.tmp_dir

    def set_puller(self, puller: Puller) -> None:
        self._puller = puller

    async def close(self) -> None:
        for task in list(self._active):
            task.cancel()
        for task in list(self._active):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def prune(self) -> PruneReport:
        """Forget the step cache and empty the RUN cache mounts."""
        ids = await asyncio.to_thread(self._cache.prune)
        cache_root = self._images.tmp_dir.parent / "build-cache"
        reclaimed = await asyncio.to_thread(_remove_tree_size, cache_root)
        return PruneReport(caches_deleted=tuple(ids), space_reclaimed=reclaimed)

    async def build(
        self, request: BuildRequest, archive: Path | None, out: BuildOutput
    ) -> BuildResult:
        """Build from the context tar at `archive` (or `request.remote`)."""
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
        workdir = self._images.tmp_dir / f"build-{secrets.token_hex(12)}"
        # Snapshots and blobs of steps not recorded yet are held from the collector.
        with self._images.lease(workdir.name):
            return await self._build(request, archive, out, workdir, task)

    async def _build(
        self,
        request: BuildRequest,
        archive: Path | None,
        out: BuildOutput,
        workdir: Path,
        task: asyncio.Task[Any] | None,
    ) -> BuildResult:
        in_memory: Path | None = None
        try:
            await asyncio.to_thread(workdir.mkdir, parents=True)
            in_memory = await asyncio.to_thread(self._memory.place, workdir.name, archive)
            context = await asyncio.to_thread(
                ctx.prepare, request, archive, workdir, in_memory, limit=self._max_unpack_size
            )
            dockerfile = await asyncio.to_thread(
                parse_dockerfile, context.dockerfile, context.dockerfile_name
            )
            runner = StepRunner(
                images=self._images,
                containers=self._containers,
                cache=self._cache,
                request=request,
                workdir=workdir,
            )
            try:
                return await _Build(self, request, dockerfile, context, runner, out).run()
            finally:
                await self._cleanup_containers(runner)
        finally:
            if task is not None:
                self._active.discard(task)
            if in_memory is not None:
                await asyncio.to_thread(shutil.rmtree, in_memory.parent, True)
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def _cleanup_containers(self, runner: StepRunner) -> None:
        """Containers of steps that did not finish: cancelled ones go always, a failed
        one only with forcerm (dockerd keeps it for inspection)."""
        for cid in list(runner.containers_made):
            try:
                record = self._containers.get(cid)
            except NotFound:
                continue
            if runner.request.force_remove or record.state.has_process:
                with contextlib.suppress(PierError):
                    await self._containers.remove(cid, force=True, volumes=True)


class _Build:
    """One build in progress."""

    def __init__(
        self,
        builder: Builder,
        request: BuildRequest,
        dockerfile: Dockerfile,
        context: ctx.Context,
        runner: StepRunner,
        out: BuildOutput,
    ) -> None:
        self.builder = builder
        self.request = request
        self.df = dockerfile
        self.context = context
        self.runner = runner
        self.out = out
        self.lex = Lexer(dockerfile.escape)
        target_platform = parse_platform(request.platform or None)
        meta: dict[str, str | None] = dict(platform_args(target_platform, default_platform()))
        self.args = BuildArgs(request.build_args, meta=meta)
        self.platform = target_platform
        self.results: dict[int, asyncio.Future[str]] = {}

    # -- planning --------------------------------------------------------------------

    def _target(self) -> int:
        stages = self.df.stages
        if not stages:
            raise InvalidParameter("No image was generated. Is your Dockerfile empty?")
        if not self.request.target:
            return len(stages) - 1
        wanted = self.request.target.lower()
        for stage in stages:
            if stage.name == wanted:
                return stage.index
        raise InvalidParameter(f'target stage "{self.request.target}" could not be found')

    def _stage_ref(self, ref: str, before: int) -> int | None:
        """The earlier stage `ref` names (by name or index), if any."""
        lowered = ref.lower()
        for stage in self.df.stages[:before]:
            if stage.name and stage.name == lowered:
                return stage.index
        if ref.isdigit() and int(ref) < before:
            return int(ref)
        return None

    def _deps(self, stage: Stage) -> set[int]:
        meta = self.args.all_meta()
        found: set[int] = set()
        refs = [stage.base]
        refs += [i.flag("from") for i in stage.instructions if i.kind == "copy" and i.flag("from")]
        for i in stage.instructions:
            for spec in i.flags.get("mount", ()) if i.kind == "run" else ():
                fields = dict(part.partition("=")[::2] for part in spec.split(","))
                if fields.get("from"):
                    refs.append(fields["from"])
        for raw in refs:
            try:
                ref = self.lex.process_word(raw, meta)
            except InvalidParameter:
                continue
            index = self._stage_ref(ref, stage.index)
            if index is not None:
                found.add(index)
        return found

    def _needed(self, target: int) -> list[int]:
        needed: set[int] = set()
        todo = [target]
        while todo:
            index = todo.pop()
            if index in needed:
                continue
            needed.add(index)
            todo.extend(self._deps(self.df.stages[index]))
        return sorted(needed)

    def _instructions(self, stage: Stage, target: int) -> tuple[Instruction, ...]:
        items = stage.instructions
        if stage.index == target and self.request.labels:
            labels = tuple(
                Instruction(
                    kind="label",
                    original=f'LABEL "{k}"="{self.request.labels[k]}"',
                    line=0,
                    pairs=((k, self.request.labels[k]),),
                )
                for k in sorted(self.request.labels)
            )
            items = (*items, *labels)
        return items

    # -- running ---------------------------------------------------------------------

    async def run(self) -> BuildResult:
        target = self._target()
        needed = self._needed(target)
        plans = {i: self._instructions(self.df.stages[i], target) for i in needed}
        total = len(self.df.meta_args) + sum(1 + len(plans[i]) for i in needed)
        output = OrderedOutput(self.out, needed)
        step = 1
        for meta in self.df.meta_args:
            await output.direct(f"Step {step}/{total} : {meta.original.strip()}\n")
            step += 1
            expanded = [
                (k, None if v is None else self.lex.process_word(v, self.args.all_meta()))
                for k, v in meta.pairs
            ]
            for key, value in expanded:
                self.args.add_meta(key, value)
                self.args.referenced.add(key)
        firsts: dict[int, int] = {}
        for i in needed:
            firsts[i] = step
            step += 1 + len(plans[i])
        loop = asyncio.get_running_loop()
        self.results = {i: loop.create_future() for i in needed}
        tasks = {
            i: asyncio.create_task(
                self._stage(self.df.stages[i], plans[i], firsts[i], total, output)
            )
            for i in needed
        }
        try:
            await _first_failure(list(tasks.values()))
        except BaseException:
            for t in tasks.values():
                t.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            for fut in self.results.values():
                if not fut.done():
                    fut.cancel()
            await output.flush_all()
            raise
        image_id = self.results[target].result()
        unused = self.args.unused()
        if unused:
            await output.direct(
                f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n"
            )
        await output.direct(f"Successfully built {image_id.removeprefix('sha256:')[:12]}\n")
        tagged: list[str] = []
        for ref in self.request.tags:
            await self.builder._images.tag(image_id, ref.name, ref.tag)
            tagged.append(ref.familiar())
            await output.direct(f"Successfully tagged {ref.familiar()}\n")
        return BuildResult(image_id=image_id, tags=tuple(tagged))

    async def _stage(
        self,
        stage: Stage,
        items: Sequence[Instruction],
        first: int,
        total: int,
        output: OrderedOutput,
    ) -> None:
        write = output.writer(stage.index)
        try:
            await write(f"Step {first}/{total} : {stage.original}\n")
            args = self.args.for_stage()
            head = await self._from(stage, write)
            await write(f" ---> {head.image_id.removeprefix('sha256:')[:12]}\n")
            run = StageRun(
                runner=self.runner,
                head=head,
                args=args,
                lex=self.lex,
                context=self.context,
                write=write,
                resolve_source=functools.partial(self._source, before=stage.index, write=write),
            )
            await run.triggers()
            step = first + 1
            for item in items:
                await write(f"Step {step}/{total} : {item.original.strip()}\n")
                step += 1
                await run.dispatch(item)
                await write(f" ---> {head.image_id.removeprefix('sha256:')[:12]}\n")
            self.args.referenced |= args.referenced
            if not head.image_id:
                raise InvalidParameter("No image was generated. Is your Dockerfile empty?")
            await output.aux(stage.index, {"ID": head.image_id})
            self.results[stage.index].set_result(head.image_id)
        finally:
            await output.finished(stage.index)

    async def _from(self, stage: Stage, write: Write) -> Head:
        meta = self.args.all_meta()
        name = self.lex.process_word(stage.base, meta)
        if not name:
            raise InvalidParameter(f"base name ({stage.base}) should not be blank")
        platform = self.platform
        if stage.platform:
            platform = parse_platform(self.lex.process_word(stage.platform, meta))
        index = self._stage_ref(name, stage.index)
        if index is not None:
            image_id = await self.results[index]
            return Head.of(await self.builder._images.resolve(image_id))
        if name == "scratch":
            return Head(
                image_id="",
                config=ImageConfig(),
                os=platform[0],
                architecture=platform[1],
                variant=platform[2],
            )
        return Head.of(await self._image(name, platform, write))

    async def _image(self, name: str, platform: tuple[str, str, str], write: Write) -> ImageRecord:
        images = self.builder._images
        wanted = "/".join(p for p in platform if p)
        if self.request.pull:
            with contextlib.suppress(NotFound):
                await self.builder._puller.pull(name, platform=wanted, out=_Relay(write))
        try:
            rec = await images.resolve(name)
        except NotFound:
            await self.builder._puller.pull(name, platform=wanted, out=_Relay(write))
            rec = await images.resolve(name)
        if self.request.platform and (rec.os, rec.architecture) != platform[:2]:
            actual = "/".join(p for p in (rec.os, rec.architecture, rec.variant) if p)
            raise NotFound(
                f"image with reference {name} was found but does not match the specified "
                f"platform: wanted {wanted}, actual: {actual}"
            )
        return rec

    async def _source(self, ref: str, before: int, write: Write) -> tuple[str, bool]:
        index = self._stage_ref(ref, before)
        if index is not None:
            return await self.results[index], True
        if re.fullmatch(r"\d+", ref):
            raise InvalidParameter(f"invalid from flag value {ref}: refers to current build stage")
        rec = await self._image(ref, self.platform, write)
        return rec.id, False


class _Relay:
    """A puller's progress, written into the stage's output."""

    def __init__(self, write: Write) -> None:
        self._write = write

    async def stream(self, text: str) -> None:
        await self._write(text)

    async def aux(self, value: object) -> None:
        return None


async def _first_failure(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for all; raise the first failure as soon as it happens."""
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            exc = t.exception()
            if exc is not None:
                raise exc


def _remove_tree_size(root: Path) -> int:
    """Remove what is under `root`; the bytes it held."""
    size = 0
    if not root.is_dir():
        return 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(dirpath, name)).st_size
    for entry in root.iterdir():
        shutil.rmtree(entry, ignore_errors=True)
    return size
