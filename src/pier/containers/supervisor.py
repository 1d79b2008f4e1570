"""Running containers and watching them: start, exits, restart policies, adoption.

`start` takes a container through the run path and records it running; a watch on
each running container's monitor (a pidfd callback, no task) turns its exit record
into the state; the restart policy (pier.containers.restartpolicy) then either starts
it again after its back-off, with the container `restarting` meanwhile, or leaves it
exited (and removes it when it was created with AutoRemove). At daemon start,
`restore` re-adopts what an earlier pierd left: it watches containers whose monitor
still runs, records the exits that happened while no pierd ran, finishes interrupted
removals, and starts again what the restart policies say should run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import replace
from typing import Any, Protocol

from pier import timefmt
from pier.config import RuntimeConfig
from pier.containers import restartpolicy
from pier.containers import state as states
from pier.containers.announce import Announcer
from pier.containers.lifecycle import LifecycleRegistry, WaitResult
from pier.containers.model import Container
from pier.containers.paths import ContainerPaths
from pier.containers.runpath import RunPath
from pier.containers.store import ContainerStore
from pier.containers.teardown import Teardown
from pier.errors import PierError, SystemFailure
from pier.runtime.base import Adoption, ExitStatus, Tasks
from pier.runtime.messages import start_error_exit_code
from pier.snapshots.mount import unmount

log = logging.getLogger(__name__)


class SupervisedRuntime(Tasks, Adoption, Protocol):
    """The runtime roles a supervisor uses: tasks, and adopting them after a restart."""


class Supervisor:
    def __init__(
        self,
        *,
        store: ContainerStore,
        paths: ContainerPaths,
        run_path: RunPath,
        runtime: SupervisedRuntime,
        runtime_config: Callable[[Container], RuntimeConfig],
        check_runtime: Callable[[RuntimeConfig], None],
        lifecycle: LifecycleRegistry,
        teardown: Teardown,
        announce: Announcer,
    ) -> None:
        self._store = store
        self._paths = paths
        self._run_path = run_path
        self._runtime = runtime
        self._runtime_config = runtime_config
        self._check_runtime = check_runtime
        self._lifecycle = lifecycle
        self._teardown = teardown
        self._announce = announce
        self._watchers: dict[str, Callable[[], None]] = {}  # what stops each watch
        self._restarts: dict[str, asyncio.Task[None]] = {}
        self._delays: dict[str, float] = {}  # the restart back-off reached, per container
        self._manual_restarts: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

    # -- start -----------------------------------------------------------------------

    async def start(self, record: Container) -> Container:
        """Run `record`, whose lifecycle lock the caller holds and whose state allows
        a start. A start that fails records the error and the exit code the CLI
        reports (and removes an AutoRemove container), then raises."""
        runtime = self._runtime_config(record)
        self._lifecycle.started(record.id)
        try:
            try:
                self._check_runtime(runtime)
                pid, started_at = await self._run_path.run(record, runtime)
            except OSError as exc:  # the host failed us (mount, disk): a 500, not a crash
                raise SystemFailure(f"cannot start container {record.short_id}: {exc}") from exc
        except PierError as exc:
            await self._start_failed(record, exc)
            raise
        except BaseException:
            self._lifecycle.start_failed(record.id)
            raise
        record = self._store.save(
            replace(record, state=states.started(record.state, pid=pid, at=started_at))
        )
        self._watch(record.id)
        await self._announce("start", record)
        return record

    async def _start_failed(self, record: Container, exc: PierError) -> None:
        self._lifecycle.start_failed(record.id)
        code = start_error_exit_code(exc.message) or 128
        record = self._store.save(
            replace(
                record, state=states.start_failed(record.state, error=exc.message, exit_code=code)
            )
        )
        if record.host_config.auto_remove:
            await self._teardown.destroy(record, record.name)

    # -- exits -----------------------------------------------------------------------

    def _watch(self, cid: str) -> None:
        # A callback on the monitor's pidfd, not a task per container: an idle
        # container's cost in pierd is what its record holds. A task is made at the exit.
        def exited(status: ExitStatus) -> None:
            self._watchers.pop(cid, None)
            # Seen live, the exit's time is when it is observed (as Docker takes it
            # from containerd's exit event): finer than the exit file's coarse mtime.
            now = timefmt.now()
            self._spawn(
                self.on_exit(
                    cid, replace(status, finished_at=max(status.finished_at, now, key=_ns))
                )
            )

        try:
            self._watchers[cid] = self._runtime.watch(cid, exited)
        except Exception:  # the monitor vanished: an unknown exit
            log.exception("watching %s failed", cid[:12])
            status = ExitStatus(exit_code=255, finished_at=timefmt.now(), oom_killed=False)
            self._spawn(self.on_exit(cid, status))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def on_exit(self, cid: str, status: ExitStatus, *, may_restart: bool = True) -> None:
        record = self._store.find(cid)
        if record is None or not record.state.has_process:
            return
        try:
            await self._teardown.release(record)
        except Exception:
            # The exit is recorded all the same: a record left "running" would make a
            # later stop or rm -f wait for an exit that never comes. rm retries the
            # release (destroy releases first).
            log.exception("releasing %s after its exit", record.short_id)
        ran_for = (_ns(status.finished_at) - _ns(record.state.started_at)) / 1e9
        decision = restartpolicy.after_exit(
            record.host_config.restart_policy,
            exit_code=status.exit_code,
            stopped_by_user=record.state.stopped_by_user or not may_restart,
            restart_count=record.restart_count,
            ran_for=ran_for,
            previous_delay=self._delays.get(cid, 0.0),
        )
        if decision.restart:
            self._delays[cid] = decision.delay
        else:  # the back-off matters only between restarts: kept for the next one only
            self._delays.pop(cid, None)
        change = states.restarting if decision.restart else states.exited
        new_state = change(
            record.state,
            exit_code=status.exit_code,
            at=status.finished_at,
            oom_killed=status.oom_killed,
        )
        record = replace(
            record,
            state=new_state,
            restart_count=record.restart_count + (1 if decision.restart else 0),
        )
        record = self._store.save(record)
        if status.oom_killed:
            # dockerd sends it when the kernel reports the OOM; conmon's record of it is
            # read at the exit, so it comes just before the die.
            await self._announce("oom", record)
        await self._announce(
            "die",
            record,
            exitCode=str(status.exit_code),
            execDuration=str(max(int(ran_for), 0)),
        )
        self._lifecycle.exited(cid, WaitResult(status_code=status.exit_code))
        if decision.restart:
            task = asyncio.create_task(self._restart_later(cid, decision.delay))
            self._restarts[cid] = task
        elif record.host_config.auto_remove and cid not in self._manual_restarts:
            async with self._lifecycle.lock(cid):
                current = self._store.find(cid)
                if current is not None and not current.state.running:
                    await self._teardown.destroy(current, current.name)

    async def _restart_later(self, cid: str, delay: float) -> None:
        await asyncio.sleep(delay)  # the policy's back-off, cancelled by stop/kill/rm
        async with self._lifecycle.lock(cid):
            self._restarts.pop(cid, None)
            record = self._store.find(cid)
            if record is None or not record.state.restarting:
                return
            try:
                await self.start(record)
            except PierError as exc:
                log.warning("restarting %s failed: %s", cid[:12], exc)
                current = self._store.find(cid)
                if current is not None:
                    self._lifecycle.exited(cid, WaitResult(status_code=current.state.exit_code))

    def cancel_restart(self, record: Container) -> Container:
        """Give up a pending restart (a stop, kill or removal from the API)."""
        task = self._restarts.pop(record.id, None)
        if task is not None:
            task.cancel()
        if not record.state.restarting:
            return record
        record = self._store.save(replace(record, state=states.restart_abandoned(record.state)))
        self._lifecycle.exited(record.id, WaitResult(status_code=record.state.exit_code))
        return record

    @contextlib.contextmanager
    def manual_restart(self, cid: str) -> Iterator[None]:
        """`docker restart`: the stop half must not auto-remove the container."""
        self._manual_restarts.add(cid)
        try:
            yield
        finally:
            self._manual_restarts.discard(cid)

    # -- daemon start and stop -------------------------------------------------------

    async def restore(self, runtimes: Iterable[RuntimeConfig]) -> None:
        runtime_known = set(self._runtime.known_containers())
        to_start: list[str] = []
        for record in list(self._store):
            current = await self._restore_one(record, record.id in runtime_known)
            if current is not None and _starts_at_boot(current):
                to_start.append(current.id)
        known = {c.id for c in self._store}
        await asyncio.to_thread(self._remove_strays, known)
        for cid in runtime_known - known:
            log.info("removing monitor state of unknown container %s", cid[:12])
            for runtime in runtimes:
                with contextlib.suppress(PierError):
                    await self._runtime.delete(cid, runtime, force=True)
        for cid in to_start:
            self._spawn(self._start_at_boot(cid))

    async def _restore_one(self, record: Container, runtime_knows: bool) -> Container | None:
        """Bring one record in line with the host; None once it is gone."""
        if record.state.removing:
            # A removal a crash interrupted: finish it (its client saw no answer). If the
            # host fails it again the container is left dead, which `rm` retries.
            try:
                await self._teardown.destroy(record, record.name, resume=True)
            except PierError as exc:
                log.warning("finishing the removal of %s: %s", record.short_id, exc)
            return None
        if record.state.restarting:
            record = self._store.save(replace(record, state=states.restart_abandoned(record.state)))
        if record.state.has_process:
            if self._runtime.monitor_alive(record.id):
                self._lifecycle.started(record.id)
                self._watch(record.id)
                return None
            status = self._runtime.exit_status(record.id) or ExitStatus(
                exit_code=255, finished_at=timefmt.now(), oom_killed=False
            )
            await self.on_exit(record.id, status, may_restart=False)
        elif runtime_knows:
            # A crash between the monitor's create and the recorded start: the record
            # says created, so the half-made run goes.
            await self._teardown.release(record)
        else:
            await asyncio.to_thread(unmount, self._paths.rootfs(record.id))
        current = self._store.find(record.id)
        if current is not None and current.host_config.auto_remove and not current.state.running:
            await self._teardown.destroy(current, current.name)
            return None
        return current

    async def _start_at_boot(self, cid: str) -> None:
        async with self._lifecycle.lock(cid):
            record = self._store.find(cid)
            if record is None or record.state.running:
                return
            try:
                await self.start(record)
            except PierError as exc:
                log.warning("starting %s at daemon start failed: %s", cid[:12], exc)

    def _remove_strays(self, known: set[str]) -> None:
        if not self._paths.root.is_dir():
            return
        for entry in self._paths.root.iterdir():
            if entry.name not in known:
                unmount(entry / "rootfs")
                shutil.rmtree(entry, ignore_errors=True)

    async def close(self) -> None:
        """Stop watching; the containers keep running (live restore)."""
        for stop in self._watchers.values():
            stop()
        self._watchers.clear()
        tasks = [*self._restarts.values(), *self._background]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def watching(self) -> int:
        return len(self._watchers)


def _starts_at_boot(record: Container) -> bool:
    if record.state.running or record.state.started_at == timefmt.ZERO:
        return False  # never started: no policy applies (moby's HasBeenStartedBefore)
    return restartpolicy.at_daemon_start(
        record.host_config.restart_policy,
        exit_code=record.state.exit_code,
        stopped_by_user=record.state.stopped_by_user,
        restart_count=record.restart_count,
    )


def _ns(stamp: str) -> int:
    try:
        return timefmt.parse_ns(stamp)
    except ValueError:
        return 0
