"""The work of one build step: probing the cache, running a RUN container, working in
a snapshot (COPY, ADD, WORKDIR), and committing the result as an image.

Every step makes an image whose parent is the image before it, as dockerd's classic
builder does; a step that changed no file adds only a history entry
(`empty_layer`). A step's layer is the upper directory of its snapshot written as a
layer tar straight into the content store, then recorded through the image
service's one ingest path.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from pier import timefmt
from pier.build.cache import BuildCache, step_key
from pier.build.cache_from import SourceCache
from pier.build.model import BuildContainers, BuildImages, BuildRequest
from pier.containers.logs import LogFile, follow
from pier.containers.model import ContainerConfig, HostConfig
from pier.errors import CommandFailed, NotFound, PierError
from pier.images import diff
from pier.images.model import ImageRecord, LayerBlob
from pier.oci.image import HistoryEntry, ImageConfig, ImageSpec
from pier.snapshots.mount import mount_all, unmount

Write = Callable[[str], Awaitable[None]]


@dataclass(slots=True, kw_only=True)
class Head:
    """The image a stage has reached: what the next step builds on."""

    image_id: str  # "" before the first commit of a stage FROM scratch
    config: ImageConfig
    os: str
    architecture: str
    variant: str = ""
    diff_ids: tuple[str, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    blobs: list[LayerBlob] | None = None  # loaded when a commit needs them
    maintainer: str = ""

    @classmethod
    def of(cls, rec: ImageRecord) -> Head:
        return cls(
            image_id=rec.id,
            config=rec.config,
            os=rec.os or "linux",
            architecture=rec.architecture,
            variant=rec.variant,
            diff_ids=rec.diff_ids,
            history=rec.history,
        )


@dataclass(slots=True, kw_only=True)
class StepRunner:
    """Shared by the stages of one build."""

    images: BuildImages
    containers: BuildContainers
    cache: BuildCache
    request: BuildRequest
    workdir: Path  # the build's private directory (context, mount points, downloads)
    containers_made: list[str] = field(default_factory=list)
    source_cache: SourceCache | None = None  # `--cache-from`, made at the first probe

    # -- cache -----------------------------------------------------------------------

    def key(self, head: Head, description: dict[str, object]) -> str:
        return step_key({"parent": head.image_id, "os": head.os, **description})

    async def probe(
        self, head: Head, key: str, write: Write, *, created_by: str, config: ImageConfig
    ) -> bool:
        """Move `head` to the cached image of this step, if there is one (`created_by`
        and `config`: what the step would commit, for `--cache-from`)."""
        if self.request.no_cache:
            return False
        rec = await self._local(head, key)
        if self.request.cache_from:
            if rec is not None and not await self._sources().is_ancestor(rec.id):
                rec = None
            if rec is None:
                parent = await self.images.resolve(head.image_id) if head.image_id else None
                found = await self._sources().find(parent, created_by, config)
                rec = found.record if found is not None else None
        if rec is None:
            return False
        await write(" ---> Using cache\n")
        maintainer = head.maintainer
        fresh = Head.of(rec)
        head.image_id, head.config = fresh.image_id, fresh.config
        head.diff_ids, head.history, head.blobs = fresh.diff_ids, fresh.history, None
        head.maintainer = maintainer
        return True

    async def _local(self, head: Head, key: str) -> ImageRecord | None:
        """The builder's own cache: a child of `head` made by this step."""
        cached = await asyncio.to_thread(self.cache.lookup, head.image_id, key)
        if cached is None:
            return None
        try:
            rec = await self.images.resolve(cached)
        except NotFound:
            await asyncio.to_thread(self.cache.forget, head.image_id, key)
            return None
        return rec if rec.parent == head.image_id else None

    def _sources(self) -> SourceCache:
        if self.source_cache is None:
            self.source_cache = SourceCache(images=self.images, refs=self.request.cache_from)
        return self.source_cache

    # -- commits ---------------------------------------------------------------------

    async def commit(
        self,
        head: Head,
        *,
        key: str,
        config: ImageConfig,
        created_by: str,
        layer: LayerBlob | None,
    ) -> None:
        """Record the step's image on top of `head` and move `head` to it."""
        if head.blobs is None:
            head.blobs = await self.images.layer_blobs(head.image_id) if head.image_id else []
        created = timefmt.now()
        entry = HistoryEntry(
            created=created,
            created_by=created_by,
            author=head.maintainer,
            empty_layer=layer is None,
        )
        diff_ids = head.diff_ids + ((layer.digest,) if layer is not None else ())
        spec = ImageSpec(
            architecture=head.architecture,
            os=head.os,
            variant=head.variant,
            author=head.maintainer,
            created=created,
            parent=head.image_id,
            config=config,
            diff_ids=diff_ids,
            history=(*head.history, entry),
        )
        blobs = [*head.blobs, *([layer] if layer is not None else [])]
        rec = await self.images.ingest(
            layers=blobs, config=spec.to_bytes(), parent=head.image_id, made_here=True
        )
        await asyncio.to_thread(self.cache.record, head.image_id, key, rec.id)
        head.image_id = rec.id
        head.config = config
        head.diff_ids = diff_ids
        head.history = spec.history
        head.blobs = blobs

    async def layer_of(self, mounts_of: diff.Layout) -> LayerBlob | None:
        """The snapshot's upper directory as a stored layer; None when it is empty."""
        empty = await asyncio.to_thread(lambda: not any(True for _ in diff._entries(mounts_of)))
        if empty:
            return None
        return await self.images.store_layer(lambda out: diff.write_layer(mounts_of, out))

    # -- snapshots -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def snapshot(self, image_id: str) -> AsyncIterator[tuple[Path, diff.Layout]]:
        """A writable snapshot on `image_id` mounted in the build's directory: its
        mount point and layout. Unmounted and removed afterwards."""
        key = f"build-{secrets.token_hex(16)}"
        if image_id:
            mounts = await self.images.prepare_rootfs(image_id, key)
        else:
            mounts = await self.images.prepare_empty_rootfs(key)
        target = self.workdir / "mnt" / key
        try:
            await asyncio.to_thread(target.mkdir, parents=True)
            await asyncio.to_thread(mount_all, mounts, target)
            try:
                yield target, diff.layout(mounts)
            finally:
                await asyncio.to_thread(unmount, target)
        finally:
            with contextlib.suppress(PierError):
                await self.images.remove_rootfs(key)
            await asyncio.to_thread(shutil.rmtree, target, True)

    # -- RUN ---------------------------------------------------------------------------

    def host_config(self, network: str) -> HostConfig:
        r = self.request
        return HostConfig(
            network_mode=network or r.network_mode or "default",
            extra_hosts=r.extra_hosts,
            shm_size=r.shm_size,
            memory=r.memory,
            memory_swap=r.memory_swap,
            cpu_shares=r.cpu_shares,
            cpu_period=r.cpu_period,
            cpu_quota=r.cpu_quota,
            cpuset_cpus=r.cpuset_cpus,
            ulimits=r.ulimits,
            binds=(),
        )

    async def run(
        self,
        head: Head,
        *,
        cmd: tuple[str, ...],
        env: tuple[str, ...],
        network: str,
        binds: tuple[str, ...],
        write: Write,
    ) -> str:
        """Run `cmd` in a container on `head`'s image; its ID once it exited 0."""
        config = ContainerConfig(
            image=head.image_id,
            cmd=cmd,
            entrypoint=("",),
            env=env,
            user=head.config.user,
            working_dir=head.config.working_dir,
            labels=head.config.labels,
            healthcheck={"Test": ["NONE"]},
        )
        host = replace(self.host_config(network), binds=binds)
        created = await self.containers.create(name=None, config=config, host_config=host)
        cid = created.id
        self.containers_made.append(cid)
        for warning in created.warnings:
            await write(f" ---> [Warning] {warning}\n")
        await write(f" ---> Running in {cid[:12]}\n")
        await self.containers.start(cid)
        stopped = self.containers.stopped_event(cid)
        log = LogFile(self.containers.log_path(cid), 0, raw=True)
        async for batch in follow(log, ended=lambda: False, ended_event=stopped):
            for record in batch:
                text = record.data.decode("utf-8", "replace")
                await write(text if record.stream == 1 else f"\x1b[91m{text}\x1b[0m")
        result = await self.containers.wait(cid, "not-running")
        if result.status_code != 0:
            message = (
                f"The command '{' '.join(cmd)}' returned a non-zero code: {result.status_code}"
            )
            if result.error:
                message += ": " + result.error
            raise CommandFailed(message, result.status_code)
        return cid

    async def remove_container(self, cid: str, write: Write) -> None:
        try:
            await self.containers.remove(cid, force=True, volumes=True)
        except NotFound:
            pass
        except PierError as exc:
            await write(f"Removing intermediate container {cid[:12]}: {exc}\n")
            return
        if cid in self.containers_made:
            self.containers_made.remove(cid)
        await write(f" ---> Removed intermediate container {cid[:12]}\n")
