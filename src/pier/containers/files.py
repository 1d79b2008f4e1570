"""ContainerFiles: the container side of `docker cp` and `docker export` (see
`pier.containers.archive` for how paths stay inside the container)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Protocol

from pier.containers import archive, pipes, tarout
from pier.containers.announce import Announcer
from pier.containers.archive import PathStat
from pier.containers.model import Container
from pier.containers.store import ContainerStore
from pier.containers.tarout import TarBody
from pier.containers.userns import Remap, mapping_of, tar_id_maps
from pier.errors import Conflict
from pier.events import EventBus
from pier.snapshots.types import Mount


class RootfsSource(Protocol):
    async def rootfs_mounts(self, key: str) -> list[Mount]: ...


class ContainerFiles:
    def __init__(
        self,
        *,
        store: ContainerStore,
        images: RootfsSource,
        tmp_dir: Path,
        rootfs_path: Callable[[str], Path],
        lock: Callable[[str], asyncio.Lock],
        events: EventBus,
        remap: Remap | None = None,
    ) -> None:
        self._remap = remap
        self._lock = lock
        self._announce = Announcer(store=store, events=events)
        self._store = store
        self._images = images
        self._tmp = tmp_dir
        self._rootfs_path = rootfs_path
        tmp_dir.mkdir(mode=0o700, exist_ok=True)
        archive.clean_up(tmp_dir)  # what a crash left mounted

    def _owners(
        self, record: Container
    ) -> tuple[tuple[int, int], Callable[[int, int], tuple[int, int]] | None]:
        """Who owns what is copied in (the container's root), and how entries' own ids
        (`cp -a`) become host ids: for a remapped container seen through its idmapped
        root (running) by its mapping; a stopped one's layer is mounted as stored,
        with the container's own ids, unless its layers are shifted copies (no
        idmapped mounts), whose upper keeps host ids."""
        mapping = mapping_of(self._remap, record)
        if mapping is None or self._remap is None:
            return (0, 0), None
        running = record.state.has_process and record.state.pid > 0
        if not running and self._remap.idmapped:
            return (0, 0), None
        return mapping.root_pair(), lambda u, g: (mapping.host_uid(u), mapping.host_gid(g))

    async def _id_maps(self, record: Container) -> list[str]:
        """tar's options for archiving what shows host ids (see _owners)."""
        _, map_ids = self._owners(record)
        mapping = mapping_of(self._remap, record)
        if map_ids is None or mapping is None:
            return []
        return await asyncio.to_thread(tar_id_maps, mapping, self._tmp)

    @contextlib.asynccontextmanager
    async def _root(self, ref: str, *, with_mounts: bool = True) -> AsyncIterator[Path]:
        record = self._store.get(ref)
        if record.state.removing:
            raise Conflict(f"container {record.id} is being removed")
        if record.state.has_process and record.state.pid > 0:
            if with_mounts:
                # The container's own view: its volumes and binds are mounted there.
                yield Path(f"/proc/{record.state.pid}/root")
            else:
                yield self._rootfs_path(record.id)
            return
        # A stopped container's root is mounted for the copy: a start meanwhile would
        # find the overlay busy, so it waits on the lifecycle lock until the copy ends.
        async with self._lock(record.id):
            record = self._store.get(record.id)
            if record.state.removing:
                raise Conflict(f"container {record.id} is being removed")
            if record.state.has_process and record.state.pid > 0:
                running = Path(f"/proc/{record.state.pid}/root")
                yield running if with_mounts else self._rootfs_path(record.id)
                return
            mounts = await self._images.rootfs_mounts(record.id)
            stack = contextlib.ExitStack()
            root = await asyncio.to_thread(
                stack.enter_context,
                archive.stopped_root(record, mounts, self._tmp, with_mounts=with_mounts),
            )
            try:
                yield root
            finally:
                await asyncio.to_thread(stack.close)

    async def stat(self, ref: str, path: str) -> PathStat:
        async with self._root(ref) as root:
            return await asyncio.to_thread(archive.stat_path, root, path, ref)

    async def get_archive(
        self, ref: str, path: str, start: Callable[[PathStat], Awaitable[TarBody]]
    ) -> None:
        """Stream a tar of `path`: `start` gets the stat (to send headers) and returns
        where the body goes."""
        async with self._root(ref) as root:
            info = await asyncio.to_thread(archive.stat_path, root, path, ref)
            stack = contextlib.ExitStack()
            args = await asyncio.to_thread(stack.enter_context, archive.tar_args(root, path, ref))
            args = await self._id_maps(self._store.get(ref)) + args
            try:
                body = await start(info)
                # dockerd announces the archive once it is set up, before it is read.
                await self._announce("archive-path", self._store.get(ref))
                await tarout.send(args, body)
            finally:
                await asyncio.to_thread(stack.close)

    async def put_archive(
        self,
        ref: str,
        path: str,
        body: AsyncIterator[bytes],
        *,
        copy_owner: bool,
        no_overwrite: bool,
    ) -> None:
        async with self._root(ref) as root:
            record = self._store.get(ref)
            root_owner, map_ids = self._owners(record)
            rfd, wfd = os.pipe2(os.O_CLOEXEC)
            with contextlib.suppress(OSError):
                fcntl.fcntl(wfd, fcntl.F_SETPIPE_SZ, pipes.PIPE_SIZE)
            reader = os.fdopen(rfd, "rb", buffering=pipes.CHUNK)

            def extract() -> None:
                with reader:  # closed when the extraction ends, so the feeding stops
                    archive.extract(
                        root,
                        path,
                        record,
                        ref,
                        reader,
                        copy_owner=copy_owner,
                        no_overwrite=no_overwrite,
                        root_owner=root_owner,
                        map_ids=map_ids,
                    )

            job = asyncio.ensure_future(asyncio.to_thread(extract))
            try:
                try:
                    await pipes.feed(wfd, body)
                finally:
                    os.close(wfd)
            finally:
                try:
                    await job
                finally:
                    reader.close()
        await self._announce("extract-to-dir", record)

    async def export(self, ref: str, start: Callable[[], Awaitable[TarBody]]) -> None:
        async with self._root(ref, with_mounts=False) as root:
            args = await asyncio.to_thread(archive.export_args, root)
            args = await self._id_maps(self._store.get(ref)) + args
            whole = await tarout.send(args, await start())
        if whole:  # dockerd announces an export once the whole tar went out
            await self._announce("export", self._store.get(ref))
