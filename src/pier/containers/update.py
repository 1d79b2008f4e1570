"""`docker update`: new limits and restart policy on a container, running or not.

As dockerd: the request is checked on its own (warnings for what the host cannot do),
merged into the record by moby's rules (`limits.apply_update`), applied to the live
cgroup when a process exists (not while a restart policy waits: the next start uses
the record), and only then recorded, so a refused change leaves the record as it was;
an `update` event follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pier.config import RuntimeConfig
from pier.containers import limits
from pier.containers.announce import Announcer
from pier.containers.lifecycle import LifecycleRegistry
from pier.containers.model import Container, HostConfig
from pier.containers.store import ContainerStore
from pier.errors import PierError, SystemFailure
from pier.runtime.base import Tasks
from pier.runtime.cgroupcaps import CgroupCaps


class Updater:
    def __init__(
        self,
        *,
        store: ContainerStore,
        runtime: Tasks,
        runtime_config: Callable[[Container], RuntimeConfig],
        lifecycle: LifecycleRegistry,
        announce: Announcer,
        caps: CgroupCaps,
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._runtime_config = runtime_config
        self._lifecycle = lifecycle
        self._announce = announce
        self._caps = caps

    def check_create(self, hc: HostConfig) -> tuple[HostConfig, tuple[str, ...]]:
        """A create's limits: Docker's defaults, devices resolved, host checked."""
        hc = limits.resolve_devices(limits.adapt_at_create(hc))
        return limits.verify(hc, self._caps)

    async def update(self, ref: str, change: limits.LimitsUpdate) -> tuple[str, ...]:
        cid = self._store.get(ref).id
        checked, warnings = limits.verify(limits.as_host_config(change), self._caps, update=True)
        change = replace(
            change,
            memory=checked.memory,
            memory_swap=checked.memory_swap,
            memory_reservation=checked.memory_reservation,
            cpu_shares=checked.cpu_shares,
            cpu_period=checked.cpu_period,
            cpu_quota=checked.cpu_quota,
            cpuset_cpus=checked.cpuset_cpus,
            cpuset_mems=checked.cpuset_mems,
            blkio_weight=checked.blkio_weight,
            pids_limit=checked.pids_limit if change.pids_limit is None else change.pids_limit,
        )
        async with self._lifecycle.lock(cid):
            record = self._store.get(cid)
            if record.state.removing or record.state.dead:
                raise SystemFailure(
                    f"Cannot update container {cid}: container is marked for removal and "
                    'cannot be "update"'
                )
            host_config = limits.apply_update(record.host_config, change, cid)
            if record.state.has_process:
                lift = change.pids_limit is not None and change.pids_limit <= 0
                try:
                    await self._runtime.update(
                        cid,
                        self._runtime_config(record),
                        limits.resources(host_config, lift_pids=lift),
                    )
                except PierError as exc:
                    raise SystemFailure(f"Cannot update container {cid}: {exc.message}") from exc
            record = self._store.save(replace(record, host_config=host_config))
        await self._announce("update", record)
        return warnings
