"""Taking down what a run or a container holds.

`release` undoes a run (the runtime's state, the root file system's mount) and is
idempotent; `destroy` removes a stopped container altogether, passing through moby's
`removing` state, and leaves it `dead` (an `rm` can be retried) when the host fails
it half-way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from pier.config import RuntimeConfig
from pier.containers import state as states
from pier.containers.announce import Announcer
from pier.containers.lifecycle import LifecycleRegistry, WaitResult
from pier.containers.model import Container
from pier.containers.networking import ContainerNetworks
from pier.containers.paths import ContainerPaths
from pier.containers.store import ContainerStore
from pier.containers.volumes_step import VolumeMounts
from pier.errors import PierError, SystemFailure
from pier.reaper import DirectoryReaper
from pier.runtime.base import Tasks
from pier.snapshots.mount import unmount

log = logging.getLogger(__name__)


class RootfsRemoval(Protocol):
    async def remove_rootfs(self, key: str) -> None: ...


class Teardown:
    def __init__(
        self,
        *,
        store: ContainerStore,
        paths: ContainerPaths,
        images: RootfsRemoval,
        runtime: Tasks,
        runtime_config: Callable[[Container], RuntimeConfig],
        lifecycle: LifecycleRegistry,
        announce: Announcer,
        networks: ContainerNetworks,
        volume_mounts: VolumeMounts,
        reaper: DirectoryReaper,
    ) -> None:
        self._reaper = reaper
        self._networks = networks
        self._volume_mounts = volume_mounts
        self._store = store
        self._paths = paths
        self._images = images
        self._runtime = runtime
        self._runtime_config = runtime_config
        self._lifecycle = lifecycle
        self._announce = announce

    async def release(self, record: Container) -> None:
        try:
            await self._runtime.delete(record.id, self._runtime_config(record), force=True)
        except PierError as exc:
            log.warning("deleting runtime state of %s: %s", record.short_id, exc)
        try:
            await self._networks.release(record.id)
        except PierError as exc:
            log.warning("releasing the networking of %s: %s", record.short_id, exc)
        await asyncio.to_thread(unmount, self._paths.rootfs(record.id))
        try:
            await self._volume_mounts.release(record)
        except PierError as exc:
            log.warning("releasing the volumes of %s: %s", record.short_id, exc)

    async def destroy(
        self, record: Container, name: str, *, resume: bool = False, volumes: bool = False
    ) -> None:
        """Remove a container that has no process (`name` as the client named it).
        `resume` finishes a removal a crash interrupted (the record says removing).
        Its anonymous volumes go too with `volumes` (`rm -v`) or AutoRemove (`--rm`)."""
        if not (resume and record.state.removing):
            record = self._store.save(replace(record, state=states.removing(record.state, name)))
        try:
            await self.release(record)
            await self._networks.forget(record.id)
            await self._images.remove_rootfs(record.id)
            await asyncio.to_thread(self._reaper.discard, self._paths.container_dir(record.id))
        except (OSError, PierError) as exc:
            message = f"unable to remove filesystem for {record.id}: {exc}"
            self._store.save(replace(record, state=states.dead(record.state, error=message)))
            raise SystemFailure(message) from exc
        self._store.remove(record.id)
        if volumes or record.host_config.auto_remove:
            await self._volume_mounts.remove_anonymous(record)
        await self._announce("destroy", record)
        self._lifecycle.removed(record.id, WaitResult(status_code=record.state.exit_code))
