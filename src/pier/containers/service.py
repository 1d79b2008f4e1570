"""ContainerService: the life of a container, from create to remove.

`start` is the `run` path of DESIGN §5, top to bottom; every step registers its undo on
an exit stack, so a failure at any step leaves nothing behind. The record in the store
is the truth clients see; the monitor (conmon) is the truth about the process, and a
watcher task per running container turns the monitor's exit record into the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal as _signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from pier import timefmt
from pier.config import DaemonConfig, RuntimeConfig
from pier.containers.etcfiles import hosts_file, resolv_conf
from pier.containers.model import Container, ContainerConfig, HostConfig, State, Status
from pier.containers.names import generate_name
from pier.containers.signals import parse_signal
from pier.containers.spec import container_spec, merge_env
from pier.containers.store import ContainerStore, check_name
from pier.containers.user import resolve_user
from pier.errors import (
    Conflict,
    InvalidParameter,
    NoSuchNetwork,
    NotModified,
    PierError,
    SystemFailure,
)
from pier.events import EventBus
from pier.runtime.base import CreateRequest, ExitStatus, Runtime
from pier.runtime.messages import start_error_exit_code
from pier.runtime.spec import HostFacts
from pier.snapshots.mount import mount_all, unmount
from pier.snapshots.types import Mount

log = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT = 10


class ImageConfigView(Protocol):
    """The image config fields a container inherits (read-only)."""

    @property
    def user(self) -> str: ...
    @property
    def env(self) -> tuple[str, ...]: ...
    @property
    def entrypoint(self) -> tuple[str, ...] | None: ...
    @property
    def cmd(self) -> tuple[str, ...] | None: ...
    @property
    def working_dir(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def exposed_ports(self) -> tuple[str, ...]: ...
    @property
    def volumes(self) -> tuple[str, ...]: ...
    @property
    def stop_signal(self) -> str: ...
    @property
    def healthcheck(self) -> Mapping[str, Any] | None: ...


class ImageView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def config(self) -> ImageConfigView: ...


class Images(Protocol):
    """What containers need of the image service."""

    async def resolve(self, ref: str) -> ImageView: ...
    async def prepare_rootfs(self, image_id: str, key: str) -> list[Mount]: ...
    async def rootfs_mounts(self, key: str) -> list[Mount]: ...
    async def remove_rootfs(self, key: str) -> None: ...
    async def rootfs_usage(self, key: str) -> int: ...


class WaitCondition(StrEnum):
    NOT_RUNNING = "not-running"
    NEXT_EXIT = "next-exit"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateResult:
    id: str
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitResult:
    status_code: int
    error: str = ""


class _Lifecycle:
    """Per-container synchronisation: a lock for transitions, and futures for waiters."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.exited = asyncio.Event()
        self.next_exit: list[asyncio.Future[WaitResult]] = []
        self.removed: list[asyncio.Future[WaitResult]] = []
        self.watcher: asyncio.Task[None] | None = None
        self.restart_task: asyncio.Task[None] | None = None
        # Called (with the container) right after the monitor exists and before the
        # process starts: attach sessions connect their stdin here.
        self.on_created: list[Callable[[Container], Awaitable[None]]] = []


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
        check_runtime: Callable[[RuntimeConfig], None] = lambda rt: None,
    ) -> None:
        self._config = config
        self._store = store
        self._images = images
        self._runtime = runtime
        self._events = events
        self._facts = facts
        self._check_runtime = check_runtime
        self._life: dict[str, _Lifecycle] = {}
        self._containers_dir = config.data_root / "containers"
        self._containers_dir.mkdir(parents=True, exist_ok=True)

    # -- lookups -----------------------------------------------------------------

    def get(self, ref: str) -> Container:
        return self._store.get(ref)

    def find(self, cid: str) -> Container | None:
        """The container with this full id, if it still exists."""
        return self._store.find(cid)

    def newest_first(self) -> list[Container]:
        """Every container, newest first (as `docker ps` orders them)."""
        return sorted(self._store, key=lambda c: c.created, reverse=True)

    def container_dir(self, cid: str) -> Path:
        return self._containers_dir / cid

    def log_path(self, cid: str) -> Path:
        return self.container_dir(cid) / "ctr.log"

    def runtime_config(self, container: Container) -> RuntimeConfig:
        return self._config.runtime(container.host_config.runtime or None)

    async def size_rw(self, container: Container) -> int:
        return await self._images.rootfs_usage(container.id)

    def lifecycle(self, cid: str) -> _Lifecycle:
        life = self._life.get(cid)
        if life is None:
            life = self._life[cid] = _Lifecycle()
        return life

    # -- create ------------------------------------------------------------------

    async def create(
        self, *, name: str | None, config: ContainerConfig, host_config: HostConfig
    ) -> CreateResult:
        warnings: list[str] = []
        if name:
            name = check_name(name)
            self._store.name_conflict(name)
        else:
            name = generate_name(lambda n: self._store.find_name(n) is not None)
        runtime = self._config.runtime(host_config.runtime or None)
        host_config = replace(host_config, runtime=runtime.name)
        host_config, net_warnings = self._network_mode(host_config)
        warnings += net_warnings
        image = await self._images.resolve(config.image)
        config, path, args = _merge_image_config(config, image.config)

        cid = secrets.token_hex(32)
        if not config.hostname:
            config = replace(
                config,
                hostname=os.uname().nodename if host_config.network_mode == "host" else cid[:12],
            )
        record = Container(
            id=cid,
            name=name,
            created=timefmt.now(),
            image_id=image.id,
            path=path,
            args=args,
            config=config,
            host_config=host_config,
        )
        cdir = self.container_dir(cid)
        async with contextlib.AsyncExitStack() as undo:
            await self._images.prepare_rootfs(image.id, cid)
            undo.push_async_callback(self._images.remove_rootfs, cid)
            await asyncio.to_thread(self._write_container_dir, record)
            undo.callback(shutil.rmtree, cdir, True)
            self._store.add(record)
            undo.pop_all()
        await self._announce("create", cid, self._event_attrs(record))
        return CreateResult(id=cid, warnings=tuple(warnings))

    def _network_mode(self, hc: HostConfig) -> tuple[HostConfig, list[str]]:
        mode = hc.network_mode or "default"
        if mode in ("none", "host"):
            return hc, []
        if mode.startswith("container:"):
            self._store.get(mode.partition(":")[2])
            return hc, []
        if mode in ("default", "bridge"):
            # Bridge networking is not in Pier yet: until it is, the default network
            # is "none" (a private network namespace with loopback only).
            return replace(hc, network_mode="none"), []
        raise NoSuchNetwork(mode)

    def _write_container_dir(self, record: Container) -> None:
        cdir = self.container_dir(record.id)
        (cdir / "rootfs").mkdir(parents=True)
        hc = record.host_config
        host_net = hc.network_mode == "host"
        (cdir / "hostname").write_text(record.config.hostname + "\n")
        (cdir / "hosts").write_text(
            hosts_file(host_network=host_net, extra_hosts=hc.extra_hosts, own=None)
        )
        (cdir / "resolv.conf").write_text(
            resolv_conf(
                host_network=host_net,
                dns=hc.dns,
                search=hc.dns_search,
                options=hc.dns_options,
            )
        )

    # -- start: the run path -----------------------------------------------------

    async def start(self, ref: str) -> None:
        record = self._store.get(ref)
        life = self.lifecycle(record.id)
        async with life.lock:
            record = self._store.get(record.id)
            if record.state.status == Status.PAUSED:
                raise Conflict("cannot start a paused container, try unpause instead")
            if record.state.running:
                raise NotModified("container already started")
            if record.state.status in (Status.REMOVING, Status.DEAD):
                raise Conflict("container is marked for removal and cannot be started")
            await self._start_locked(record, life)

    async def _start_locked(self, record: Container, life: _Lifecycle) -> None:
        cid = record.id
        runtime = self.runtime_config(record)
        life.exited.clear()
        try:
            try:
                self._check_runtime(runtime)
                pid, started_at = await self._run(record, runtime, life)
            except OSError as exc:  # the host failed us (mount, disk): a 500, not a crash
                raise SystemFailure(f"cannot start container {cid[:12]}: {exc}") from exc
        except BaseException as exc:
            life.exited.set()
            if not isinstance(exc, PierError):
                raise
            code = start_error_exit_code(exc.message) or 128
            self._store.save(
                replace(record, state=replace(record.state, exit_code=code, error=exc.message))
            )
            if record.host_config.auto_remove:
                await self._remove_now(self._store.get(cid), life)
            raise
        record = self._store.save(
            replace(
                record,
                state=State(
                    status=Status.RUNNING,
                    pid=pid,
                    started_at=started_at,
                ),
            )
        )
        life.watcher = asyncio.create_task(self._watch(cid), name=f"watch-{cid[:12]}")
        await self._announce("start", cid, self._event_attrs(record))

    async def _run(
        self, record: Container, runtime: RuntimeConfig, life: _Lifecycle
    ) -> tuple[int, str]:
        """Mount the root file system, write the bundle, let the monitor create the
        container, connect attached clients, start it. Returns the container's pid and
        the time it was started."""
        cid = record.id
        cdir = self.container_dir(cid)
        rootfs = cdir / "rootfs"
        async with contextlib.AsyncExitStack() as undo:
            mounts = await self._images.rootfs_mounts(cid)
            await asyncio.to_thread(mount_all, mounts, rootfs)
            undo.push_async_callback(asyncio.to_thread, unmount, rootfs)

            spec = await asyncio.to_thread(
                container_spec,
                record,
                rootfs=rootfs,
                container_dir=cdir,
                config=self._config,
                facts=self._facts,
                resolve_user=lambda: resolve_user(
                    rootfs, record.config.user, record.host_config.group_add
                ),
                pid_of=self._running_pid,
            )
            await asyncio.to_thread(_write_json, cdir / "config.json", spec)

            request = CreateRequest(
                cid=cid,
                name=record.name,
                bundle=cdir,
                runtime=runtime,
                tty=record.config.tty,
                stdin=record.config.open_stdin,
                # dockerd never closes a terminal's input when a client leaves (a
                # detached `run -it` is attached to again): StdinOnce is for pipes.
                stdin_once=record.config.stdin_once and not record.config.tty,
                log_path=self.log_path(cid),
                log_size_max=_log_size_max(record.host_config.log_opts),
            )
            pid = await self._runtime.create(request)
            undo.push_async_callback(self._runtime.delete, cid, runtime, force=True)

            for hook in list(life.on_created):
                await hook(record)
            started_at = timefmt.now()
            await self._runtime.start(cid, runtime)
            undo.pop_all()
            return pid, started_at
        raise AssertionError("unreachable")  # pragma: no cover

    def _running_pid(self, ref: str) -> int:
        other = self._store.get(ref)
        if not other.state.running or not other.state.pid:
            raise Conflict(f"cannot join namespaces of a non running container: {other.id}")
        return other.state.pid

    # -- exits -------------------------------------------------------------------

    async def _watch(self, cid: str) -> None:
        try:
            status = await self._runtime.wait(cid)
            # Seen live, the exit's time is when it is observed (as Docker takes it
            # from containerd's exit event): finer than the exit file's coarse mtime.
            status = replace(status, finished_at=_later(status.finished_at, timefmt.now()))
        except asyncio.CancelledError:
            raise
        except Exception:  # the monitor vanished: treat as an unknown exit
            log.exception("watching %s failed", cid[:12])
            status = ExitStatus(exit_code=255, finished_at=timefmt.now(), oom_killed=False)
        await self._on_exit(cid, status)

    async def _on_exit(self, cid: str, status: ExitStatus) -> None:
        record = self._store.find(cid)
        if record is None:
            return
        life = self.lifecycle(cid)
        runtime = self.runtime_config(record)
        await self._teardown(cid, runtime)
        record = self._store.save(
            replace(
                record,
                state=replace(
                    record.state,
                    status=Status.EXITED,
                    pid=0,
                    exit_code=status.exit_code,
                    oom_killed=status.oom_killed,
                    # The exit file's mtime comes from the kernel's coarse clock, which
                    # can trail the start time we took by a tick.
                    finished_at=max(status.finished_at, record.state.started_at),
                ),
            )
        )
        attrs = dict(self._event_attrs(record), exitCode=str(status.exit_code))
        await self._announce("die", cid, attrs)
        result = WaitResult(status_code=status.exit_code)
        waiters, life.next_exit = life.next_exit, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(result)
        life.exited.set()
        if record.host_config.auto_remove:
            async with life.lock:
                current = self._store.find(cid)
                if current is not None and not current.state.running:
                    await self._remove_now(current, life)
            return
        if self._should_restart(record):
            life.restart_task = asyncio.create_task(self._restart_later(cid))

    async def _teardown(self, cid: str, runtime: RuntimeConfig) -> None:
        """Release what a run held: the runtime's state and the rootfs mount."""
        try:
            await self._runtime.delete(cid, runtime, force=True)
        except PierError as exc:
            log.warning("deleting runtime state of %s: %s", cid[:12], exc)
        await asyncio.to_thread(unmount, self.container_dir(cid) / "rootfs")

    def _should_restart(self, record: Container) -> bool:
        policy = record.host_config.restart_policy
        if record.state.stopped_by_user:
            return False
        if policy.name in ("always", "unless-stopped"):
            return True
        if policy.name == "on-failure" and record.state.exit_code != 0:
            return policy.maximum_retry_count == 0 or (
                record.restart_count < policy.maximum_retry_count
            )
        return False

    async def _restart_later(self, cid: str) -> None:
        record = self._store.find(cid)
        if record is None:
            return
        # Docker's back-off: 100 ms doubling, reset after a run of 10 s or more.
        delay = min(0.1 * (2 ** min(record.restart_count, 10)), 60.0)
        await asyncio.sleep(delay)
        life = self.lifecycle(cid)
        async with life.lock:
            record = self._store.find(cid)
            if record is None or record.state.running or record.state.stopped_by_user:
                return
            record = self._store.save(replace(record, restart_count=record.restart_count + 1))
            try:
                await self._start_locked(record, life)
            except PierError as exc:
                log.warning("restarting %s failed: %s", cid[:12], exc)

    # -- stop, kill, restart -----------------------------------------------------

    async def stop(
        self, ref: str, *, timeout: int | None = None, signal: str | None = None
    ) -> None:
        record = self._store.get(ref)
        life = self.lifecycle(record.id)
        self._cancel_restart(life)
        if not record.state.running:
            if record.state.status == Status.RESTARTING:
                self._store.save(replace(record, state=replace(record.state, status=Status.EXITED)))
            raise NotModified("container already stopped")
        stop_signal = parse_signal(signal or record.config.stop_signal or None)
        if timeout is None:
            timeout = record.config.stop_timeout
        if timeout is None:
            timeout = DEFAULT_STOP_TIMEOUT
        await self._stop(record, life, stop_signal, timeout)

    async def _stop(self, record: Container, life: _Lifecycle, sig: int, timeout: int) -> None:
        record = self._mark_stopped_by_user(record)
        runtime = self.runtime_config(record)
        if record.state.status == Status.PAUSED:
            await self._runtime.resume(record.id, runtime)
        with contextlib.suppress(PierError):
            await self._runtime.kill(record.id, runtime, sig)
        if timeout < 0:
            await life.exited.wait()
            return
        try:
            await asyncio.wait_for(life.exited.wait(), timeout)
            return
        except TimeoutError:
            pass
        with contextlib.suppress(PierError):
            await self._runtime.kill(record.id, runtime, _signal.SIGKILL, all=True)
        await life.exited.wait()

    def _mark_stopped_by_user(self, record: Container) -> Container:
        return self._store.save(replace(record, state=replace(record.state, stopped_by_user=True)))

    def _cancel_restart(self, life: _Lifecycle) -> None:
        if life.restart_task is not None:
            life.restart_task.cancel()
            life.restart_task = None

    async def kill(self, ref: str, *, signal: str | None = None) -> None:
        record = self._store.get(ref)
        sig = parse_signal(signal, default=_signal.SIGKILL)
        if not record.state.running:
            raise Conflict(f"Container {record.id} is not running")
        if sig in (_signal.SIGKILL, _signal.SIGTERM, _signal.SIGINT):
            record = self._mark_stopped_by_user(record)
        await self._runtime.kill(record.id, self.runtime_config(record), sig)

    async def restart(
        self, ref: str, *, timeout: int | None = None, signal: str | None = None
    ) -> None:
        with contextlib.suppress(NotModified):
            await self.stop(ref, timeout=timeout, signal=signal)
        record = self._store.get(ref)
        life = self.lifecycle(record.id)
        async with life.lock:
            record = self._store.get(record.id)
            if not record.state.running:
                record = self._store.save(
                    replace(record, state=replace(record.state, stopped_by_user=False))
                )
                await self._start_locked(record, life)
        await self._announce("restart", record.id, self._event_attrs(record))

    # -- wait --------------------------------------------------------------------

    def wait(self, ref: str, condition: str | None) -> Awaitable[WaitResult]:
        """Checks the request now (so a bad one is answered before any header goes
        out) and returns what to await for the result."""
        try:
            cond = WaitCondition(condition or WaitCondition.NOT_RUNNING)
        except ValueError:
            raise InvalidParameter(f"invalid condition: {condition!r}") from None
        record = self._store.get(ref)
        life = self.lifecycle(record.id)
        loop = asyncio.get_running_loop()
        if cond is WaitCondition.NOT_RUNNING and not record.state.running:
            fut: asyncio.Future[WaitResult] = loop.create_future()
            fut.set_result(WaitResult(status_code=record.state.exit_code))
            return fut
        fut = loop.create_future()
        if cond is WaitCondition.REMOVED:
            life.removed.append(fut)
        else:
            life.next_exit.append(fut)
        return fut

    # -- remove, rename ----------------------------------------------------------

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        record = self._store.get(ref)
        life = self.lifecycle(record.id)
        self._cancel_restart(life)
        if record.state.running:
            if not force:
                raise Conflict(
                    f'cannot remove container "/{record.name}": container is running: '
                    "stop the container before removing or force remove"
                )
            await self._stop(record, life, _signal.SIGKILL, -1)
        async with life.lock:
            current = self._store.find(record.id)
            if current is None:
                return
            if current.state.running:
                raise Conflict(f"container {record.id} restarted while being removed")
            await self._remove_now(current, life)

    async def _remove_now(self, record: Container, life: _Lifecycle) -> None:
        cid = record.id
        await self._teardown(cid, self.runtime_config(record))
        await self._images.remove_rootfs(cid)
        await asyncio.to_thread(shutil.rmtree, self.container_dir(cid), True)
        self._store.remove(cid)
        await self._announce("destroy", cid, self._event_attrs(record))
        result = WaitResult(status_code=record.state.exit_code)
        for fut in life.removed + life.next_exit:
            if not fut.done():
                fut.set_result(result)
        life.exited.set()
        self._life.pop(cid, None)

    async def rename(self, ref: str, new_name: str) -> None:
        if not new_name:
            raise InvalidParameter("Neither old nor new names may be empty")
        record = self._store.get(ref)
        name = check_name(new_name)
        if name == record.name:
            raise Conflict("Renaming a container with the same name as its current name")
        self._store.save(replace(record, name=name))
        await self._announce(
            "rename",
            record.id,
            dict(self._event_attrs(record), oldName="/" + record.name, name=name),
        )

    # -- pause -------------------------------------------------------------------

    async def pause(self, ref: str) -> None:
        record = self._store.get(ref)
        if record.state.status != Status.RUNNING:
            raise Conflict(f"Container {record.id} is not running")
        await self._runtime.pause(record.id, self.runtime_config(record))
        self._store.save(replace(record, state=replace(record.state, status=Status.PAUSED)))
        await self._announce("pause", record.id, self._event_attrs(record))

    async def unpause(self, ref: str) -> None:
        record = self._store.get(ref)
        if record.state.status != Status.PAUSED:
            raise Conflict(f"Container {record.id} is not paused")
        await self._runtime.resume(record.id, self.runtime_config(record))
        self._store.save(replace(record, state=replace(record.state, status=Status.RUNNING)))
        await self._announce("unpause", record.id, self._event_attrs(record))

    async def resize(self, ref: str, height: int, width: int) -> None:
        record = self._store.get(ref)
        if not record.state.running:
            raise Conflict(f"Container {record.id} is not running")
        await self._runtime.resize(record.id, height, width)

    # -- daemon start and stop ---------------------------------------------------

    async def restore(self) -> None:
        """Re-adopt what an earlier pierd left: watch containers whose monitor still
        runs, record the exits that happened while pierd was down, and remove what a
        crash left half-made."""
        known = set()
        for record in list(self._store):
            known.add(record.id)
            if record.state.status == Status.RESTARTING:
                record = self._store.save(
                    replace(record, state=replace(record.state, status=Status.EXITED))
                )
            if not record.state.running:
                await asyncio.to_thread(unmount, self.container_dir(record.id) / "rootfs")
                continue
            life = self.lifecycle(record.id)
            if self._runtime.monitor_alive(record.id):
                life.watcher = asyncio.create_task(self._watch(record.id))
                continue
            status = self._runtime.exit_status(record.id) or ExitStatus(
                exit_code=255, finished_at=timefmt.now(), oom_killed=False
            )
            await self._on_exit(record.id, status)
        await asyncio.to_thread(self._remove_strays, known)
        for cid in self._runtime.known_containers():
            if cid not in known:
                log.info("removing monitor state of unknown container %s", cid[:12])
                for runtime in self._config.runtimes.values():
                    with contextlib.suppress(PierError):
                        await self._runtime.delete(cid, runtime, force=True)

    def _remove_strays(self, known: set[str]) -> None:
        for entry in self._containers_dir.iterdir():
            if entry.name not in known:
                unmount(entry / "rootfs")
                shutil.rmtree(entry, ignore_errors=True)

    async def close(self) -> None:
        """Stop watching; the containers keep running (live restore)."""
        tasks = []
        for life in self._life.values():
            for task in (life.watcher, life.restart_task):
                if task is not None and not task.done():
                    task.cancel()
                    tasks.append(task)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- helpers -----------------------------------------------------------------

    async def _announce(self, action: str, cid: str, attrs: dict[str, str]) -> None:
        """Publish a change once the store has it on disk: a client that saw the event
        or the reply (which comes after it) can count on it surviving a crash."""
        await self._store.synced()
        self._events.publish("container", action, cid, attrs)

    def _event_attrs(self, record: Container) -> dict[str, str]:
        attrs = {"image": record.config.image, "name": record.name}
        attrs.update(record.config.labels)
        return attrs

    def is_running(self, cid: str) -> bool:
        record = self._store.find(cid)
        return record is not None and record.state.running


def _merge_image_config(
    config: ContainerConfig, image: ImageConfigView
) -> tuple[ContainerConfig, str, tuple[str, ...]]:
    """Docker's merge of the create request with the image's config, and the
    resulting Path and Args (moby daemon/commit.go merge, getEntrypointAndArgs)."""
    entrypoint = config.entrypoint
    cmd = config.cmd
    if not entrypoint:
        if not cmd:
            cmd = image.cmd
        if entrypoint is None:
            entrypoint = image.entrypoint
    if entrypoint == ("",):
        entrypoint = ()
    env = merge_env(image.env, config.env)
    labels = dict(image.labels)
    labels.update(config.labels)
    merged = replace(
        config,
        entrypoint=entrypoint,
        cmd=cmd,
        env=env,
        user=config.user or image.user,
        working_dir=config.working_dir or image.working_dir,
        labels=labels,
        exposed_ports=tuple(dict.fromkeys(image.exposed_ports + config.exposed_ports)),
        volumes=tuple(dict.fromkeys(image.volumes + config.volumes)),
        stop_signal=config.stop_signal or image.stop_signal,
        healthcheck=config.healthcheck if config.healthcheck is not None else image.healthcheck,
    )
    argv = tuple(entrypoint or ()) + tuple(cmd or ())
    if not argv:
        raise InvalidParameter("no command specified")
    return merged, argv[0], argv[1:]


def _log_size_max(opts: Mapping[str, str]) -> int | None:
    value = opts.get("max-size")
    if not value:
        return None
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    text = value.strip().lower().rstrip("b")
    mult = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    try:
        return int(float(number) * mult)
    except ValueError:
        raise InvalidParameter(f"invalid value for max-size: {value}") from None


def _write_json(path: Path, body: Any) -> None:
    import json

    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body))
    os.replace(tmp, path)


def _later(a: str, b: str) -> str:
    return max(a, b, key=timefmt.parse_ns)
