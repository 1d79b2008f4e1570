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
files and process), `conmon_exec` (the `Execs` role); this module is the `Tasks` and
`Adoption` roles.
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
from pier.runtime.conmon_exec import ConmonExecs
from pier.runtime.launcher import ConmonLauncher
from pier.runtime.messages import create_error, runtime_message
from pier.runtime.monitor import (
    connect_attach_socket,
    parent_pid,
    process_alive,
    read_exit,
    read_int,
    read_sync,
    stderr_text,
    stop_monitor_in,
    watch_monitor,
    write_reopen_log,
    write_resize,
)
from pier.runtime.resources import Resources, render_resources

_CREATE_TIMEOUT = 60.0


def _is_crun(runtime: RuntimeConfig) -> bool:
    return runtime.name == "crun" or Path(runtime.path).name == "crun"


class ConmonRuntime:
    """The `Runtime` implementation over conmon and an OCI runtime (crun, runc)."""

    def __init__(self, *, exec_root: Path, conmon_path: str = "conmon", log_level: str = "error"):
        self._launcher = ConmonLauncher(exec_root=exec_root, conmon_path=conmon_path)
        self._exec_root = exec_root
        self._log_level = log_level
        self._execs = ConmonExecs(launcher=self._launcher, exited=self._exited)
        self._filters = crunstate.CompiledFilters()

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
        return await asyncio.to_thread(self._create, req)

    def _create(self, req: CreateRequest) -> int:
        d = self._dir(req.cid)
        d.parent.mkdir(parents=True, exist_ok=True)
        try:
            d.mkdir()
        except FileExistsError:
            raise Conflict(f"container {req.cid} already exists in the runtime") from None
        try:
            executable, seccomp_key = self._link_config(req.bundle, d, req.runtime)
            runtime_root = self._launcher.runtime_root(req.runtime)
            runtime_root.mkdir(parents=True, exist_ok=True)
            pid = self._spawn_conmon(req, d, executable)
            if seccomp_key is not None:
                self._filters.learn(seccomp_key, runtime_root / req.cid)
            return pid
        except BaseException:
            self._cleanup_failed(req.cid, req.runtime)
            raise

    def _link_config(
        self, bundle: Path, d: Path, runtime: RuntimeConfig
    ) -> tuple[str | None, str | None]:
        """Give the runtime the caller's config.json with the driver dir as bundle:
        (the process's executable, for error messages; the key under which to keep
        the seccomp filter crun compiles for it, if it is not known yet)."""
        source = bundle / "config.json"
        try:
            config = json.loads(source.read_bytes())
        except (OSError, ValueError) as exc:
            raise SystemFailure(f"cannot read OCI config {source}: {exc}") from exc
        changed, seccomp_key = (
            self._filters.annotate(runtime.path, config) if _is_crun(runtime) else (False, None)
        )
        root = config.get("root", {}).get("path", "rootfs")
        if not os.path.isabs(root):
            config["root"]["path"] = str((bundle / root).absolute())
            changed = True
        if changed:
            (d / "config.json").write_text(json.dumps(config))
        else:
            os.symlink(source.absolute(), d / "config.json")
        args = config.get("process", {}).get("args") or [None]
        return (args[0] if isinstance(args[0], str) else None), seccomp_key

    def _conmon_argv(self, req: CreateRequest, d: Path) -> list[str]:
        argv = self._launcher.base_argv(
            cid=req.cid,
            uuid=req.cid,
            runtime=req.runtime,
            d=d,
            log=f"k8s-file:{req.log_path}",
            level=self._log_level,
        )
        # conmon would fsync the log at every exit; dockerd does not either.
        argv += ["-n", req.name or req.cid, "--no-sync-log"]
        if req.tty:
            argv.append("-t")
        if req.stdin:
            argv.append("-i")
            if not req.stdin_once:
                argv.append("--leave-stdin-open")
        if req.log_size_max is not None and req.log_size_max > 0:
            argv += ["--log-size-max", str(req.log_size_max)]
        return argv

    def _spawn_conmon(self, req: CreateRequest, d: Path, executable: str | None) -> int:
        read_end, write_end = os.pipe()  # both close-on-exec: only conmon gets write_end
        try:
            with self._launcher.spawn(
                self._conmon_argv(req, d), d, {"_OCI_SYNCPIPE": write_end}
            ) as proc:
                reply = read_sync(read_end, _CREATE_TIMEOUT)
                first_rc = proc.wait(timeout=_CREATE_TIMEOUT)
                conmon_err = stderr_text(proc) if reply is None or first_rc != 0 else ""
        finally:
            os.close(read_end)
        if reply is None:
            raise SystemFailure(
                f"conmon failed to create container {req.cid}: {conmon_err or 'no reply'}"
            )
        pid = reply.get("data")
        if not isinstance(pid, int) or pid <= 0:
            raise create_error(req.runtime.name, str(reply.get("message", "")), executable)
        return pid

    def _cleanup_failed(self, cid: str, runtime: RuntimeConfig) -> None:
        d = self._dir(cid)
        self._stop_monitor(cid, graceful=True)
        if (self._launcher.runtime_root(runtime) / cid).exists():
            self._launcher.run_sync(self._launcher.runtime_argv(runtime, "delete", "--force", cid))
        # A runtime that failed half-way through its create (a cgroup file it could
        # not write) leaves the cgroups it made, and nothing else would remove them.
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, SystemFailure):
            cgroups.remove(json.loads((d / "config.json").read_text())["linux"]["cgroupsPath"])
        shutil.rmtree(d, ignore_errors=True)

    def _stop_monitor(self, cid: str, *, graceful: bool) -> None:
        """Make sure this container's conmon is gone (it normally exits by itself)."""
        stop_monitor_in(self._dir(cid), cid.encode(), graceful=graceful)

    # -- runtime subcommands -------------------------------------------------------

    def _known(self, cid: str, runtime: RuntimeConfig) -> bool:
        return (self._launcher.runtime_root(runtime) / cid).exists() or self._dir(cid).exists()

    async def start(self, cid: str, runtime: RuntimeConfig) -> None:
        if _is_crun(runtime) and crunstate.start(self._launcher.runtime_root(runtime) / cid):
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
            _is_crun(runtime)
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
            and _is_crun(runtime)
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
