"""The Runtime driver: one conmon per container, conmon runs crun or runc.

How conmon is driven (facts from conmon 2.1's sources, the version Debian 12 ships):

- We start `conmon` with a pipe's write end passed as `_OCI_SYNCPIPE`. conmon forks;
  the first process writes the grandchild's pid to `--conmon-pidfile` and exits, the
  grandchild calls setsid(), becomes a child subreaper and runs
  `<runtime> [--runtime-arg...] create --bundle B --pid-file P <cid>`. When that
  succeeds it writes `{"data": <container pid>}` to the sync pipe; when it fails,
  `{"data": -1, "message": "<the runtime's stderr>"}`, and exits.
- conmon creates the `attach` socket, the `ctl` and `winsz` FIFOs in the bundle
  directory. With `--full-attach` it does not make the short symlink under
  `--socket-dir-path`; the socket is `<bundle>/attach`.
- When the container exits conmon drains its output into the k8s-file log, writes the
  exit code ("%d", 128+signal for a signal) to `<persist-dir>/exit`, an empty `oom`
  file there if the cgroup saw an OOM kill, then exits.

Everything lives in the driver's directory `<exec_root>/conmon/<cid>/`, which is also
the bundle conmon and the runtime see (its config.json points at the caller's bundle).
So the attach socket path is short whatever the data root, and a later daemon process
finds all it needs there: `conmon.pid`, `pid`, `exit`, `oom`, `attach`, `ctl`.
Each runtime keeps its state under `<exec_root>/runtime/<runtime name>` (`--root`).

The parts: `launcher` (paths, conmon and runtime processes), `monitor` (a conmon's
files and process), `conmon_create` (a container's create), `conmon_exec` (the `Execs`
role), `crunstate` (what is done with crun's state instead of running crun); this
module is the `Tasks` and `Adoption` roles.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal as signals
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pier import timefmt
from pier.config import RuntimeConfig
from pier.errors import Conflict, NoSuchContainer, SystemFailure
from pier.runtime import cgroups, crunstate
from pier.runtime.base import (
    CreateRequest,
    ExecRequest,
    ExecStarted,
    ExitStatus,
    ProbeOutcome,
    ProbeRequest,
    Runtime,
    RuntimeState,
    RuntimeStatus,
)
from pier.runtime.cgroupstats import ContainerStats
from pier.runtime.conmon_binary import ConmonBinary, choose_conmon
from pier.runtime.conmon_create import ConmonCreator, is_crun
from pier.runtime.conmon_exec import ConmonExecs
from pier.runtime.launcher import ConmonLauncher
from pier.runtime.messages import runtime_message
from pier.runtime.monitor import (
    connect_attach_socket,
    parent_pid,
    process_alive,
    read_exit,
    read_int,
    stop_monitor_in,
    watch_monitor,
    write_reopen_log,
    write_resize,
)
from pier.runtime.resources import Resources, render_resources


class ConmonRuntime:
    """The `Runtime` implementation over conmon and an OCI runtime (crun, runc)."""

    def __init__(
        self, *, exec_root: Path, conmon: ConmonBinary | None = None, log_level: str = "error"
    ):
        self._launcher = ConmonLauncher(exec_root=exec_root, conmon=conmon or choose_conmon())
        self._exec_root = exec_root
        self._log_level = log_level
        self._execs = ConmonExecs(launcher=self._launcher, exited=self._exited)
        self._creator = ConmonCreator(launcher=self._launcher, log_level=log_level)

    # -- paths ---------------------------------------------------------------------

    def _dir(self, cid: str) -> Path:
        return self._launcher.container_dir(cid)

    def open_attach(self, cid: str) -> socket.socket:
        try:
            return connect_attach_socket(self._dir(cid) / "attach")
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise Conflict(f"container {cid} is not running") from exc
        except OSError as exc:
            raise SystemFailure(f"cannot attach to container {cid}: {exc}") from exc

    def known_containers(self) -> list[str]:
        """The ids with a driver directory: what a starting daemon re-adopts or cleans."""
        try:
            return sorted(p.name for p in (self._exec_root / "conmon").iterdir() if p.is_dir())
        except FileNotFoundError:
            return []

    # -- create --------------------------------------------------------------------

    async def create(self, req: CreateRequest) -> int:
        return await asyncio.to_thread(self._creator.create, req)

    def _stop_monitor(self, cid: str, *, graceful: bool) -> None:
        """Make sure this container's conmon is gone (it normally exits by itself)."""
        stop_monitor_in(self._dir(cid), cid.encode(), graceful=graceful)

    # -- runtime subcommands -------------------------------------------------------

    def _known(self, cid: str, runtime: RuntimeConfig) -> bool:
        return (self._launcher.runtime_root(runtime) / cid).exists() or self._dir(cid).exists()

    async def start(self, cid: str, runtime: RuntimeConfig) -> None:
        if is_crun(runtime) and crunstate.start(self._launcher.runtime_root(runtime) / cid):
            return
        rc, out = await self._launcher.run(runtime, "start", cid)
        if rc != 0:
            if not self._known(cid, runtime):
                raise NoSuchContainer(cid)
            raise SystemFailure(
                f"failed to start container {cid}: {runtime_message(out) or 'exit ' + str(rc)}"
            )

    async def kill(
        self, cid: str, runtime: RuntimeConfig, signal: int, *, all: bool = False
    ) -> None:
        if not all and self._signal_directly(cid, signal):
            return
        if self._exited(cid):
            return
        rc, out = await self._launcher.run(
            runtime, "kill", *(["--all"] if all else []), cid, str(signal)
        )
        if rc != 0 and not self._exited(cid):
            if not self._known(cid, runtime):
                raise NoSuchContainer(cid)
            raise SystemFailure(f"cannot kill container {cid}: {runtime_message(out)}")

    def _exited(self, cid: str) -> bool:
        d = self._dir(cid)
        return (d / "exit").exists() or (d.exists() and not self.monitor_alive(cid))

    def _signal_directly(self, cid: str, signal: int) -> bool:
        """Signal the init through a pidfd, skipping a runtime process; True if done.

        The pidfd is only trusted once the process behind it is seen to be the child
        of this container's conmon: a recycled pid would have another parent.
        """
        pid = self.container_pid(cid)
        monitor = self._conmon_pid(cid)
        if pid is None or monitor is None or (self._dir(cid) / "exit").exists():
            return False
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return False
        try:
            if parent_pid(pid) != monitor or (self._dir(cid) / "exit").exists():
                return False
            signals.pidfd_send_signal(pidfd, signal)
            return True
        except ProcessLookupError:
            return False
        finally:
            os.close(pidfd)

    async def delete(self, cid: str, runtime: RuntimeConfig, *, force: bool = False) -> None:
        d = self._dir(cid)
        state = self._launcher.runtime_root(runtime) / cid
        removed = (
            is_crun(runtime)
            and (d / "exit").exists()  # conmon reaped the init: nothing runs as it
            and await asyncio.to_thread(crunstate.delete_stopped, state)
        )
        if not removed and state.exists():
            rc, out = await self._launcher.run(
                runtime, "delete", *(["--force"] if force else []), cid
            )
            if rc != 0 and state.exists():
                message = runtime_message(out)
                if "running" in message or "paused" in message:
                    raise Conflict(f"cannot delete container {cid}: {message}")
                raise SystemFailure(f"cannot delete container {cid}: {message}")
        if d.exists():
            await asyncio.to_thread(self._stop_monitor, cid, graceful=True)
            await asyncio.to_thread(shutil.rmtree, d, True)

    async def pause(self, cid: str, runtime: RuntimeConfig) -> None:
        await self._simple(cid, runtime, "pause")

    async def resume(self, cid: str, runtime: RuntimeConfig) -> None:
        await self._simple(cid, runtime, "resume")

    async def _simple(self, cid: str, runtime: RuntimeConfig, verb: str) -> None:
        rc, out = await self._launcher.run(runtime, verb, cid)
        if rc != 0:
            if not self._known(cid, runtime):
                raise NoSuchContainer(cid)
            raise Conflict(f"cannot {verb} container {cid}: {runtime_message(out)}")

    async def state(self, cid: str, runtime: RuntimeConfig) -> RuntimeState:
        rc, out = await self._launcher.run(runtime, "state", cid)
        if rc != 0:
            if not (self._launcher.runtime_root(runtime) / cid).exists():
                raise NoSuchContainer(cid)
            raise SystemFailure(f"cannot read state of container {cid}: {runtime_message(out)}")
        try:
            raw = json.loads(out[out.index("{") :])
            status = RuntimeStatus(raw["status"])
        except (ValueError, KeyError) as exc:
            raise SystemFailure(f"unreadable state of container {cid}: {out!r}") from exc
        pid = raw.get("pid")
        return RuntimeState(status=status, pid=pid if isinstance(pid, int) and pid > 0 else None)

    async def resize(self, cid: str, height: int, width: int) -> None:
        write_resize(self._dir(cid) / "ctl", height, width, f"container {cid}")

    def reopen_log(self, cid: str) -> bool:
        return write_reopen_log(self._dir(cid) / "ctl")

    async def update(self, cid: str, runtime: RuntimeConfig, resources: Resources) -> None:
        body = render_resources(resources, update=True)
        # crun 1.8 writes a pids limit of -1 to a v1 pids.max as "-1", which the kernel
        # refuses; crun keeps no record of limits, so writing "max" ourselves is what
        # it would have done. (runc does it right, and would undo ours: it rewrites
        # every limit it recorded at each update.)
        lift_pids = (
            body.get("pids") == {"limit": -1}
            and is_crun(runtime)
            and cgroups.detect_mode() is not cgroups.CgroupMode.V2
        )
        if lift_pids:
            del body["pids"]
        if not body and not lift_pids:
            return
        pid = self.container_pid(cid)
        if pid is None or self._exited(cid):
            if not self._known(cid, runtime):
                raise NoSuchContainer(cid)
            raise Conflict(f"container {cid} is not running")
        if body:
            await self._update(cid, runtime, body)
        if lift_pids:
            try:
                await asyncio.to_thread(cgroups.lift_pids_limit_v1, pid)
            except OSError as exc:
                if self._exited(cid):
                    raise Conflict(f"container {cid} is not running") from exc
                raise SystemFailure(f"Cannot update container {cid}: {exc}") from exc

    async def _update(self, cid: str, runtime: RuntimeConfig, body: dict[str, Any]) -> None:
        # A file of its own per call: two updates may run at once.
        fd, name = tempfile.mkstemp(prefix="resources-", suffix=".json", dir=self._dir(cid))
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(body, f)
            rc, out = await self._launcher.run(runtime, "update", f"--resources={name}", cid)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)
        if rc != 0:
            if self._exited(cid):
                raise Conflict(f"container {cid} is not running")
            raise SystemFailure(f"Cannot update container {cid}: {runtime_message(out)}")

    async def stats(self, cid: str, runtime: RuntimeConfig) -> ContainerStats:
        pid = self.container_pid(cid)
        if pid is None or self._exited(cid):
            if not self._known(cid, runtime):
                raise NoSuchContainer(cid)
            raise Conflict(f"container {cid} is not running")
        try:
            stats = await asyncio.to_thread(cgroups.stats_of_pid, pid)
        except OSError as exc:
            if self._exited(cid):
                raise Conflict(f"container {cid} is not running") from exc
            raise SystemFailure(f"cannot read the stats of container {cid}: {exc}") from exc
        # The pid is the container's only while it has not exited: had it exited
        # meanwhile, the cgroup read may be another process's.
        if self._exited(cid):
            raise Conflict(f"container {cid} is not running")
        return stats

    async def pids(self, cid: str, runtime: RuntimeConfig) -> list[int]:
        pid = self.container_pid(cid)
        if pid is None or self._exited(cid):
            if not self._known(cid, runtime):
                raise NoSuchContainer(cid)
            raise Conflict(f"container {cid} is not running")
        try:
            pids = await asyncio.to_thread(cgroups.pids_of_pid, pid)
        except OSError as exc:
            if self._exited(cid):
                raise Conflict(f"container {cid} is not running") from exc
            raise SystemFailure(f"cannot list the processes of container {cid}: {exc}") from exc
        if self._exited(cid):
            raise Conflict(f"container {cid} is not running")
        return pids

    # -- exec ----------------------------------------------------------------------

    async def exec(self, req: ExecRequest) -> ExecStarted:
        return await self._execs.exec(req)

    async def exec_wait(self, cid: str, exec_id: str) -> int:
        return await self._execs.exec_wait(cid, exec_id)

    async def probe(self, req: ProbeRequest) -> ProbeOutcome:
        return await self._execs.probe(req)

    async def exec_resize(self, cid: str, exec_id: str, height: int, width: int) -> None:
        await self._execs.exec_resize(cid, exec_id, height, width)

    async def exec_remove(self, cid: str, exec_id: str) -> None:
        await self._execs.exec_remove(cid, exec_id)

    # -- exit ----------------------------------------------------------------------

    def _conmon_pid(self, cid: str) -> int | None:
        return read_int(self._dir(cid) / "conmon.pid")

    def container_pid(self, cid: str) -> int | None:
        return read_int(self._dir(cid) / "pid")

    def monitor_alive(self, cid: str) -> bool:
        pid = self._conmon_pid(cid)
        return pid is not None and process_alive(pid, cid.encode())

    def exit_status(self, cid: str) -> ExitStatus | None:
        return read_exit(self._dir(cid), cid)

    def _lost(self) -> ExitStatus:
        return ExitStatus(exit_code=255, finished_at=timefmt.now(), oom_killed=False)

    async def wait(self, cid: str) -> ExitStatus:
        exited: asyncio.Future[ExitStatus] = asyncio.get_running_loop().create_future()

        def settle(status: ExitStatus) -> None:
            if not exited.done():
                exited.set_result(status)

        stop = self.watch(cid, settle)
        try:
            return await exited
        finally:
            stop()

    def watch(self, cid: str, on_exit: Callable[[ExitStatus], None]) -> Callable[[], None]:
        done = self.exit_status(cid)
        if done is not None:
            return asyncio.get_running_loop().call_soon(on_exit, done).cancel
        if not self._dir(cid).exists():
            raise NoSuchContainer(cid)
        return watch_monitor(
            self._dir(cid), cid.encode(), lambda: on_exit(self.exit_status(cid) or self._lost())
        )


if TYPE_CHECKING:
    # mypy's proof that the driver plays every role.
    _roles: Runtime = ConmonRuntime(exec_root=Path())
