"""`docker stats`: samples of a container's cgroup (and network namespace), one a
second, as dockerd's stats collector makes them.

A sample of a container without a process is empty (only its name and id), as
dockerd sends for a stopped or restarting container. `stream=false` takes two samples
a second apart, so the CPU figures have a previous sample to be compared with (what
dockerd's collector does by discarding its first frame); `one-shot` takes one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from pier.config import RuntimeConfig
from pier.containers.model import Container
from pier.containers.store import ContainerStore
from pier.errors import Conflict, InvalidParameter, NoSuchContainer
from pier.runtime.cgroupstats import ContainerStats, NetStats

INTERVAL = 1.0  # seconds between samples, dockerd's collector interval

_NO_NETS: Mapping[str, NetStats] = MappingProxyType({})


class StatsRuntime(Protocol):
    async def stats(self, cid: str, runtime: RuntimeConfig) -> ContainerStats: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsSample:
    name: str  # "/name", as dockerd sends it
    id: str
    read_ns: int = 0  # 0: no sample (the container has no process)
    cgroup: ContainerStats | None = None
    networks: Mapping[str, NetStats] = field(default_factory=lambda: _NO_NETS)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsFrame:
    """What one JSON object of the stats stream holds: a sample and the one before."""

    current: StatsSample
    previous: StatsSample | None


class StatsReader:
    def __init__(
        self,
        *,
        store: ContainerStore,
        runtime: StatsRuntime,
        runtime_config: Callable[[Container], RuntimeConfig],
        net_dev: Callable[[int], Mapping[str, NetStats]],
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._runtime_config = runtime_config
        self._net_dev = net_dev

    async def sample(self, cid: str) -> StatsSample:
        record = self._store.find(cid)
        if record is None:
            raise NoSuchContainer(cid)
        empty = StatsSample(name="/" + record.name, id=record.id)
        if not record.state.has_process:
            return empty
        try:
            cgroup = await self._runtime.stats(record.id, self._runtime_config(record))
        except (Conflict, NoSuchContainer):
            return empty  # it exited meanwhile: dockerd's empty stats
        networks: Mapping[str, NetStats] = _NO_NETS
        if record.host_config.network_mode != "host" and record.state.pid:
            with contextlib.suppress(OSError):
                networks = await asyncio.to_thread(self._net_dev, record.state.pid)
        return StatsSample(
            name=empty.name, id=empty.id, read_ns=time.time_ns(), cgroup=cgroup, networks=networks
        )

    async def frames(
        self, ref: str, *, stream: bool, one_shot: bool
    ) -> AsyncGenerator[StatsFrame, None]:
        """The frames GET /containers/{id}/stats sends (checked before the first)."""
        if stream and one_shot:
            raise InvalidParameter("cannot have stream=true and one-shot=true")
        cid = self._store.get(ref).id
        first = await self.sample(cid)
        if not stream:
            if one_shot or first.cgroup is None:
                yield StatsFrame(current=first, previous=None)
                return
            await asyncio.sleep(INTERVAL)  # the CPU figures need a second sample
            yield StatsFrame(current=await self.sample(cid), previous=first)
            return
        previous: StatsSample | None = None
        current = first
        while True:
            yield StatsFrame(current=current, previous=previous)
            await asyncio.sleep(INTERVAL)
            if self._store.find(cid) is None:
                return  # removed: dockerd ends the stream
            previous, current = current, await self.sample(cid)
