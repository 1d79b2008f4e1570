"""ContainerService: the facade the API calls, one method per container operation.

It checks each request against the container's state (`pier.containers.state`),
takes the container's lock where the runtime is involved, and hands the work to the
part whose job it is:

- `Creator` (create.py): the request checked and completed into a record;
- `Supervisor` (supervisor.py): start through the run path (runpath.py), exits,
  restart policies, adoption at daemon start;
- `Teardown` (teardown.py): releasing a run, removing a container;
- `LifecycleRegistry` (lifecycle.py): locks, waiters, start hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal as _signal
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from pier.config import DaemonConfig, RuntimeConfig
from pier.containers import health, logconfig, security
from pier.containers import state as states
from pier.containers.announce import Announcer
from pier.containers.create import CreateResult, Creator, Images
from pier.containers.lifecycle import (
    CreatedHook,
    LifecycleRegistry,
    WaitCondition,
    WaitResult,
)
from pier.containers.limits import LimitsUpdate
from pier.containers.logfiles import LogFiles, LogRotator, policy_of
from pier.containers.model import Container, ContainerConfig, HostConfig
from pier.containers.networking import ContainerNetworks
from pier.containers.paths import ContainerPaths
from pier.containers.runpath import RunPath
from pier.containers.signals import parse_signal
from pier.containers.stats import StatsFrame, StatsReader
from pier.containers.store import ContainerStore, check_name
from pier.containers.supervisor import Supervisor
from pier.containers.teardown import Teardown
from pier.containers.top import Top, TopResult
from pier.containers.update import Updater
from pier.containers.userns import Remap
from pier.containers.volumes_step import ContainerVolumes, VolumeMounts
from pier.errors import Conflict, InvalidParameter, NotModified, PierError
from pier.events import EventBus
from pier.reaper import DirectoryReaper
from pier.runtime import cgroupcaps, cgroups
from pier.runtime.base import Runtime
from pier.runtime.cgroupcaps import CgroupCaps
from pier.runtime.spec import HostFacts

DEFAULT_STOP_TIMEOUT = 10
KILL_WAIT = 10.0  # dockerd's wait for an exit after SIGKILL before it tries again

__all__ = ["ContainerService", "CreateResult", "WaitCondition", "WaitResult"]


class ContainerService:
    def __init__(
        self,
        *,
        config: DaemonConfig,
        store: ContainerStore,
        images: Images,
        runtime: Runtime,
        events: EventBus,
        facts: HostFacts,
        networks: ContainerNetworks,
        volumes: ContainerVolumes,
        check_runtime: Callable[[RuntimeConfig], None] = lambda rt: None,
        caps: CgroupCaps | None = None,
        reaper: DirectoryReaper,
        remap: Remap | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._images = images
        self._runtime = runtime
        self._networks = networks
        self.paths = ContainerPaths(config.data_root / "containers")
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self._lifecycle = LifecycleRegistry()
        self._announce = Announcer(store=store, events=events)
        volume_mounts = VolumeMounts(volumes=volumes)
        self._creator = Creator(
            config=config,
            store=store,
            paths=self.paths,
            images=images,
            announce=self._announce,
            networks=networks,
            volume_mounts=volume_mounts,
            remap=remap,
        )
        self._teardown = Teardown(
            store=store,
            paths=self.paths,
            images=images,
            runtime=runtime,
            runtime_config=self.runtime_config,
            lifecycle=self._lifecycle,
            announce=self._announce,
            networks=networks,
            volume_mounts=volume_mounts,
            reaper=reaper,
        )
        self._run_path = run_path = RunPath(
            config=config,
            paths=self.paths,
            images=images,
            runtime=runtime,
            lifecycle=self._lifecycle,
            facts=facts,
            pid_of=self._running_pid,
            find=store.get,
            networks=networks,
            volume_mounts=volume_mounts,
            prepare_log=self._prepare_log,
            remap=remap,
        )
        self._supervisor = Supervisor(
            store=store,
            paths=self.paths,
            run_path=run_path,
            runtime=runtime,
            runtime_config=self.runtime_config,
            check_runtime=check_runtime,
            lifecycle=self._lifecycle,
            teardown=self._teardown,
            announce=self._announce,
        )
        self._log_files = LogFiles(log_path=self.paths.log_path)
        self._rotator = LogRotator(
            store=store, events=events, files=self._log_files, monitor=runtime
        )
        self._updater = Updater(
            store=store,
            runtime=runtime,
            runtime_config=self.runtime_config,
            lifecycle=self._lifecycle,
            announce=self._announce,
            caps=caps or cgroupcaps.detect(),
        )
        self._stats = StatsReader(
            store=store,
            runtime=runtime,
            runtime_config=self.runtime_config,
            net_dev=cgroups.net_dev_of_pid,
        )
        self._top = Top(runtime=runtime, runtime_config=self.runtime_config)

    # -- lookups -----------------------------------------------------------------------

    def get(self, ref: str) -> Container:
        return self._store.get(ref)

    def find(self, cid: str) -> Container | None:
        """The container with this full id, if it still exists."""
        return self._store.find(cid)

    def newest_first(self) -> list[Container]:
        """Every container, newest first (as `docker ps` orders them)."""
        return sorted(self._store, key=lambda c: c.created, reverse=True)

    def container_dir(self, cid: str) -> Path:
        return self.paths.container_dir(cid)

    def log_path(self, cid: str) -> Path:
        return self.paths.log_path(cid)

    def runtime_config(self, container: Container) -> RuntimeConfig:
        return self._config.runtime(container.host_config.runtime or None)

    async def size_rw(self, container: Container) -> int:
        return await self._images.rootfs_usage(container.id)

    def stopped_event(self, cid: str) -> asyncio.Event:
        """Set while `cid` has no process (log followers end on it)."""
        return self._lifecycle.stopped_event(cid)

    def lifecycle_lock(self, cid: str) -> asyncio.Lock:
        """Held across a transition; `cp` on a stopped container holds it while the root
        is mounted, so a start waits instead of finding the overlay busy."""
        return self._lifecycle.lock(cid)

    def on_created(self, cid: str, hook: CreatedHook) -> contextlib.AbstractContextManager[None]:
        """Run `hook` between the monitor's create and the process's start."""
        return self._lifecycle.on_created(cid, hook)

    # -- operations ----------------------------------------------------------------------

    async def create(
        self, *, name: str | None, config: ContainerConfig, host_config: HostConfig
    ) -> CreateResult:
        health.validate(config.healthcheck)
        log_type, log_opts = logconfig.resolve(
            host_config.log_type,
            host_config.log_opts,
            default_driver=self._config.log_driver,
            default_opts=self._config.log_opts,
        )
        host_config = replace(host_config, log_type=log_type, log_opts=log_opts)
        host_config = security.create_defaults(host_config, self._config)
        host_config, warnings = self._updater.check_create(host_config)
        result = await self._creator.create(name=name, config=config, host_config=host_config)
        return replace(result, warnings=warnings + tuple(result.warnings))

    async def start(self, ref: str) -> None:
        cid = self._store.get(ref).id
        async with self._lifecycle.lock(cid):
            record = self._store.get(cid)
            states.check_start(record.state)
            await self._supervisor.start(record)

    async def stop(
        self, ref: str, *, timeout: int | None = None, signal: str | None = None
    ) -> None:
        record = self._store.get(ref)
        if record.state.restarting:
            record = self._mark_stopped_by_user(record)
            record = self._supervisor.cancel_restart(record)
            await self._announce("stop", record)
            return
        states.check_stop(record.state)
        stop_signal = parse_signal(signal or record.config.stop_signal or None)
        if timeout is None:
            timeout = record.config.stop_timeout
        if timeout is None:
            timeout = DEFAULT_STOP_TIMEOUT
        await self._stop(record, stop_signal, timeout)
        await self._announce("stop", record)

    async def _stop(self, record: Container, sig: int, timeout: int) -> None:
        """Signal, wait up to `timeout` seconds (forever if negative), then SIGKILL."""
        record = self._mark_stopped_by_user(record)
        runtime = self.runtime_config(record)
        if record.state.paused:
            await self._runtime.resume(record.id, runtime)
        with contextlib.suppress(PierError):
            await self._runtime.kill(record.id, runtime, sig)
        await self._announce("kill", record, signal=str(sig))
        if timeout < 0:
            await self._lifecycle.wait_stopped(record.id)
        elif not await self._lifecycle.wait_stopped(record.id, timeout):
            await self._kill_and_wait(record)

    async def _kill_and_wait(self, record: Container) -> None:
        runtime = self.runtime_config(record)
        while True:
            with contextlib.suppress(PierError):
                await self._runtime.kill(record.id, runtime, _signal.SIGKILL, all=True)
            if await self._lifecycle.wait_stopped(record.id, KILL_WAIT):
                return

    async def kill(self, ref: str, *, signal: str | None = None) -> None:
        """As dockerd: any signal marks the container stopped by the user (no restart
        policy applies) unless it has a stop signal and this is another one; SIGKILL
        returns only once the container has exited."""
        record = self._store.get(ref)
        sig = parse_signal(signal, default=_signal.SIGKILL)
        states.check_kill(record.state, record.id)
        stop_sig = parse_signal(record.config.stop_signal) if record.config.stop_signal else None
        if stop_sig is None or sig in (stop_sig, _signal.SIGKILL):
            record = self._mark_stopped_by_user(record)
            if record.state.restarting:
                record = self._supervisor.cancel_restart(record)
                await self._announce("kill", record, signal=str(sig))
                return
        if record.state.restarting:
            return
        await self._runtime.kill(record.id, self.runtime_config(record), sig)
        await self._announce("kill", record, signal=str(sig))
        if sig == _signal.SIGKILL and not await self._lifecycle.wait_stopped(record.id, KILL_WAIT):
            await self._kill_and_wait(record)

    async def restart(
        self, ref: str, *, timeout: int | None = None, signal: str | None = None
    ) -> None:
        cid = self._store.get(ref).id
        with self._supervisor.manual_restart(cid):
            with contextlib.suppress(NotModified):
                await self.stop(ref, timeout=timeout, signal=signal)
            async with self._lifecycle.lock(cid):
                record = self._store.get(cid)
                if not record.state.running:
                    states.check_start(record.state)
                    record = await self._supervisor.start(record)
        await self._announce("restart", record)

    def wait(self, ref: str, condition: str | None) -> Awaitable[WaitResult]:
        """Checks the request now (so a bad one is answered before any header goes
        out) and returns what to await for the result."""
        cond = WaitCondition.parse(condition)
        record = self._store.get(ref)
        if cond is WaitCondition.NOT_RUNNING and not record.state.running:
            fut: asyncio.Future[WaitResult] = asyncio.get_running_loop().create_future()
            fut.set_result(WaitResult(status_code=record.state.exit_code, error=record.state.error))
            return fut
        return self._lifecycle.waiter(record.id, cond)

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        record = self._store.get(ref)
        # dockerd 20.10 names the container as it is known ("/name"); v28 as asked.
        states.check_remove(record.state, "/" + record.name, force=force)
        if record.state.restarting:
            record = self._supervisor.cancel_restart(self._mark_stopped_by_user(record))
        elif record.state.has_process:
            await self._stop(record, _signal.SIGKILL, -1)
        async with self._lifecycle.lock(record.id):
            current = self._store.find(record.id)
            if current is None:
                return
            if current.state.has_process:
                raise Conflict(f"container {record.id} restarted while being removed")
            await self._teardown.destroy(current, "/" + current.name, volumes=volumes)

    async def rename(self, ref: str, new_name: str) -> None:
        if not new_name:
            raise InvalidParameter("Neither old nor new names may be empty")
        record = self._store.get(ref)
        name = check_name(new_name)
        if name == record.name:
            raise Conflict("Renaming a container with the same name as its current name")
        renamed = self._store.save(replace(record, name=name))
        await self._networks.rename(record.id, record.name, name)  # DNS names follow
        await self._announce("rename", renamed, oldName="/" + record.name)

    async def pause(self, ref: str) -> None:
        record = self._store.get(ref)
        new_state = states.paused(record.state, record.id)
        await self._runtime.pause(record.id, self.runtime_config(record))
        record = self._store.save(replace(record, state=new_state))
        await self._announce("pause", record)

    async def unpause(self, ref: str) -> None:
        record = self._store.get(ref)
        new_state = states.unpaused(record.state, record.id)
        await self._runtime.resume(record.id, self.runtime_config(record))
        record = self._store.save(replace(record, state=new_state))
        await self._announce("unpause", record)

    async def resize(self, ref: str, height: int, width: int) -> None:
        record = self._store.get(ref)
        if not record.state.has_process:
            raise Conflict(f"Container {record.id} is not running")
        await self._runtime.resize(record.id, height, width)
        await self._announce("resize", record, height=str(height), width=str(width))

    async def update(self, ref: str, change: LimitsUpdate) -> tuple[str, ...]:
        """New limits or restart policy; returns dockerd's warnings."""
        return await self._updater.update(ref, change)

    def stats(self, ref: str, *, stream: bool, one_shot: bool) -> AsyncGenerator[StatsFrame, None]:
        return self._stats.frames(ref, stream=stream, one_shot=one_shot)

    async def top(self, ref: str, ps_args: str) -> TopResult:
        record = self._store.get(ref)
        result = await self._top.top(record, ps_args)
        await self._announce("top", record)
        return result

    # -- daemon start and stop -----------------------------------------------------------

    async def restore(self) -> None:
        await self._rotator.start()  # first: it shifts what conmon rotated meanwhile
        await self._supervisor.restore(self._config.runtimes.values())

    async def close(self) -> None:
        await self._supervisor.close()
        await self._rotator.close()
        self._run_path.close()

    # -- helpers -------------------------------------------------------------------------

    def _mark_stopped_by_user(self, record: Container) -> Container:
        return self._store.save(replace(record, state=states.stopped_by_user(record.state)))

    def _prepare_log(self, record: Container) -> logconfig.LogPolicy:
        policy = policy_of(record)
        self._log_files.prepare(record.id, policy)
        return policy

    def _running_pid(self, ref: str) -> int:
        other = self._store.get(ref)
        if not other.state.has_process or not other.state.pid:
            raise Conflict(f"cannot join namespaces of a non running container: {other.id}")
        return other.state.pid
