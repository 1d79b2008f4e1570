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
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import select
import shutil
import signal as signals
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pier import timefmt
from pier.config import RuntimeConfig
from pier.errors import Conflict, NoSuchContainer, SystemFailure
from pier.runtime.base import (
    CreateRequest,
    ExecRequest,
    ExecStarted,
    ExitStatus,
    RuntimeState,
    RuntimeStatus,
)
from pier.runtime.messages import create_error, exec_error, runtime_message

_CREATE_TIMEOUT = 60.0
_RUNTIME_TIMEOUT = 60.0
_MONITOR_EXIT_TIMEOUT = 10.0
_UNIX_PATH_MAX = 107  # sizeof(sun_path) minus the terminating NUL


def connect_attach_socket(path: Path) -> socket.socket:
    """Connect to a conmon attach socket, even when its path is longer than sun_path."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        if len(os.fsencode(path)) <= _UNIX_PATH_MAX:
            sock.connect(str(path))
        else:
            # The same trick conmon uses to bind it: name the directory through a fd.
            dirfd = os.open(path.parent, os.O_PATH | os.O_CLOEXEC)
            try:
                sock.connect(f"/proc/self/fd/{dirfd}/{path.name}")
            finally:
                os.close(dirfd)
    except OSError:
        sock.close()
        raise
    return sock


def _process_alive(pid: int, marker: bytes | None = None) -> bool:
    """True if `pid` runs (not a zombie) and, given a marker, its cmdline contains it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if marker else b""
    except OSError:
        return False
    fields = stat.rsplit(b")", 1)[-1].split()
    if not fields or fields[0] in (b"Z", b"X"):
        return False
    return marker is None or marker in cmdline


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat.rsplit(b")", 1)[-1].split()
    return int(fields[1]) if len(fields) > 1 else None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _wait_pid_exit(pid: int, timeout: float) -> bool:
    """Block until `pid` exits (zombie counts); False on timeout."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(pidfd)


def _stop_monitor_in(d: Path, marker: bytes, *, graceful: bool) -> None:
    """Make sure the conmon whose pidfile is in `d` is gone: let it finish on its own
    when `graceful`, then SIGKILL it (if it is still the process we started)."""
    pid = _read_int(d / "conmon.pid")
    if pid is None:
        return
    if graceful and _wait_pid_exit(pid, _MONITOR_EXIT_TIMEOUT):
        return
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if _process_alive(pid, marker):
            signals.pidfd_send_signal(pidfd, signals.SIGKILL)
            select.select([pidfd], [], [], _MONITOR_EXIT_TIMEOUT)
    finally:
        os.close(pidfd)


async def _monitor_exited(d: Path, marker: bytes) -> None:
    """Return once the conmon whose pidfile is in `d` has exited."""
    pid = _read_int(d / "conmon.pid")
    if pid is None:
        return
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        # Checked after taking the pidfd, so the fd surely names our conmon.
        if not _process_alive(pid, marker):
            return
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()

        def _ready() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(pidfd, _ready)
        try:
            await exited
        finally:
            loop.remove_reader(pidfd)
    finally:
        os.close(pidfd)


def _write_resize(ctl: Path, height: int, width: int, what: str) -> None:
    """Ask conmon to resize its console through the `ctl` FIFO."""
    try:
        fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENXIO):
            raise Conflict(f"{what[0].upper()}{what[1:]} is not running") from exc
        raise SystemFailure(f"cannot resize {what}: {exc}") from exc
    try:
        os.write(fd, f"1 {height} {width}\n".encode())
    except OSError as exc:
        raise SystemFailure(f"cannot resize {what}: {exc}") from exc
    finally:
        os.close(fd)


def _stderr_text(proc: subprocess.Popen[bytes]) -> str:
    """What conmon said on stderr, without waiting for more."""
    with contextlib.suppress(OSError, ValueError):
        assert proc.stderr is not None
        os.set_blocking(proc.stderr.fileno(), False)
        return (proc.stderr.read() or b"").decode(errors="replace").strip()
    return ""


class ConmonRuntime:
    """The `Runtime` implementation over conmon and an OCI runtime (crun, runc)."""

    def __init__(self, *, exec_root: Path, conmon_path: str = "conmon", log_level: str = "error"):
        self._exec_root = exec_root
        self._conmon_path = conmon_path
        self._log_level = log_level

    # -- paths ---------------------------------------------------------------------

    def _dir(self, cid: str) -> Path:
        if not cid or "/" in cid or cid in (".", ".."):
            raise NoSuchContainer(cid)
        return self._exec_root / "conmon" / cid

    def _runtime_root(self, runtime: RuntimeConfig) -> Path:
        return self._exec_root / "runtime" / runtime.name

    def _runtime_argv(self, runtime: RuntimeConfig, *args: str) -> list[str]:
        return [runtime.path, f"--root={self._runtime_root(runtime)}", *runtime.args, *args]

    def attach_socket_path(self, cid: str) -> Path:
        return self._dir(cid) / "attach"

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
            executable = self._link_config(req.bundle, d)
            self._runtime_root(req.runtime).mkdir(parents=True, exist_ok=True)
            return self._spawn_conmon(req, d, executable)
        except BaseException:
            self._cleanup_failed(req.cid, req.runtime)
            raise

    def _link_config(self, bundle: Path, d: Path) -> str | None:
        """Give the runtime the caller's config.json with the driver dir as bundle."""
        source = bundle / "config.json"
        try:
            config = json.loads(source.read_bytes())
        except (OSError, ValueError) as exc:
            raise SystemFailure(f"cannot read OCI config {source}: {exc}") from exc
        root = config.get("root", {}).get("path", "rootfs")
        if os.path.isabs(root):
            os.symlink(source.absolute(), d / "config.json")
        else:
            config["root"]["path"] = str((bundle / root).absolute())
            (d / "config.json").write_text(json.dumps(config))
        args = config.get("process", {}).get("args") or [None]
        return args[0] if isinstance(args[0], str) else None

    def _base_argv(
        self, *, cid: str, uuid: str, runtime: RuntimeConfig, d: Path, log: str, level: str
    ) -> list[str]:
        """What every conmon gets: everything in the driver directory `d`."""
        argv = [
            self._conmon_path,
            "--api-version",
            "1",
            "-c",
            cid,
            "-u",
            uuid,
            "-r",
            runtime.path,
            "-b",
            str(d),
            "-p",
            str(d / "pid"),
            "--conmon-pidfile",
            str(d / "conmon.pid"),
            "--persist-dir",
            str(d),
            "--full-attach",
            "-l",
            log,
            "--log-level",
            level,
            f"--runtime-arg=--root={self._runtime_root(runtime)}",
        ]
        return argv + [f"--runtime-arg={arg}" for arg in runtime.args]

    def _conmon_argv(self, req: CreateRequest, d: Path) -> list[str]:
        argv = self._base_argv(
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

    @contextlib.contextmanager
    def _conmon(
        self, argv: list[str], d: Path, pipes: dict[str, int]
    ) -> Iterator[subprocess.Popen[bytes]]:
        """Start conmon with `pipes` (its ends of our pipes, by environment variable;
        closed here once it has them). On leaving, its first process (the one that
        forks the monitor and exits) is reaped, or killed if it hangs."""
        env = {"PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")}
        env.update({name: str(fd) for name, fd in pipes.items()})
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=tuple(pipes.values()),
                env=env,
                cwd=d,  # conmon also drops an `oom` file in its cwd
                # Out of pierd's session and process group: a ^C to pierd's
                # terminal must not reach the monitors.
                start_new_session=True,
            )
        except OSError as exc:
            raise SystemFailure(f"cannot start conmon ({self._conmon_path}): {exc}") from exc
        finally:
            for fd in pipes.values():
                os.close(fd)
        try:
            yield proc
        finally:
            if proc.stderr is not None:
                proc.stderr.close()
            if proc.returncode is None:
                proc.kill()
                proc.wait()

    def _spawn_conmon(self, req: CreateRequest, d: Path, executable: str | None) -> int:
        read_end, write_end = os.pipe()  # both close-on-exec: only conmon gets write_end
        try:
            with self._conmon(self._conmon_argv(req, d), d, {"_OCI_SYNCPIPE": write_end}) as proc:
                reply = self._read_sync(read_end, _CREATE_TIMEOUT)
                first_rc = proc.wait(timeout=_CREATE_TIMEOUT)
                conmon_err = _stderr_text(proc) if reply is None or first_rc != 0 else ""
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

    @staticmethod
    def _read_sync(fd: int, timeout: float) -> dict[str, Any] | None:
        """Read conmon's one-line JSON reply; None on EOF, garbage or timeout."""
        deadline = time.monotonic() + timeout
        buf = b""
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
        try:
            reply = json.loads(buf.split(b"\n", 1)[0])
        except ValueError:
            return None
        return reply if isinstance(reply, dict) else None

    def _cleanup_failed(self, cid: str, runtime: RuntimeConfig) -> None:
        d = self._dir(cid)
        self._stop_monitor(cid, graceful=True)
        if (self._runtime_root(runtime) / cid).exists():
            self._run_sync(self._runtime_argv(runtime, "delete", "--force", cid))
        shutil.rmtree(d, ignore_errors=True)

    def _stop_monitor(self, cid: str, *, graceful: bool) -> None:
        """Make sure this container's conmon is gone (it normally exits by itself)."""
        _stop_monitor_in(self._dir(cid), cid.encode(), graceful=graceful)

    # -- runtime subcommands -------------------------------------------------------

    @staticmethod
    def _run_sync(argv: list[str]) -> tuple[int, str]:
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_RUNTIME_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SystemFailure(f"{argv[0]} {' '.join(argv[2:])}: {exc}") from exc
        return done.returncode, (done.stderr + b"\n" + done.stdout).decode(errors="replace")

    async def _run(self, runtime: RuntimeConfig, *args: str) -> tuple[int, str]:
        return await asyncio.to_thread(self._run_sync, self._runtime_argv(runtime, *args))

    def _known(self, cid: str, runtime: RuntimeConfig) -> bool:
        return (self._runtime_root(runtime) / cid).exists() or self._dir(cid).exists()

    async def start(self, cid: str, runtime: RuntimeConfig) -> None:
        rc, out = await self._run(runtime, "start", cid)
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
        rc, out = await self._run(runtime, "kill", *(["--all"] if all else []), cid, str(signal))
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
            if _parent_pid(pid) != monitor or (self._dir(cid) / "exit").exists():
                return False
            signals.pidfd_send_signal(pidfd, signal)
            return True
        except ProcessLookupError:
            return False
        finally:
            os.close(pidfd)

    async def delete(self, cid: str, runtime: RuntimeConfig, *, force: bool = False) -> None:
        d = self._dir(cid)
        if (self._runtime_root(runtime) / cid).exists():
            rc, out = await self._run(runtime, "delete", *(["--force"] if force else []), cid)
            if rc != 0 and (self._runtime_root(runtime) / cid).exists():
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
        rc, out = await self._run(runtime, verb, cid)
        if rc != 0:
            if not self._known(cid, runtime):
                raise NoSuchContainer(cid)
            raise Conflict(f"cannot {verb} container {cid}: {runtime_message(out)}")

    async def state(self, cid: str, runtime: RuntimeConfig) -> RuntimeState:
        rc, out = await self._run(runtime, "state", cid)
        if rc != 0:
            if not (self._runtime_root(runtime) / cid).exists():
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
        _write_resize(self._dir(cid) / "ctl", height, width, f"container {cid}")

    # -- exec --------------------------------------------------------------------

    def _exec_dir(self, cid: str, exec_id: str) -> Path:
        if not exec_id or "/" in exec_id or exec_id in (".", ".."):
            raise SystemFailure(f"invalid exec id {exec_id!r}")
        # Under the container's directory: removing the container removes its execs.
        return self._dir(cid) / "exec" / exec_id

    async def exec(self, req: ExecRequest) -> ExecStarted:
        return await asyncio.to_thread(self._exec, req)

    def _exec(self, req: ExecRequest) -> ExecStarted:
        if self._exited(req.cid):
            raise Conflict(f"container {req.cid} is not running")
        d = self._exec_dir(req.cid, req.exec_id)
        d.mkdir(parents=True)
        try:
            (d / "process.json").write_text(json.dumps(req.process))
            return self._spawn_exec(req, d)
        except BaseException:
            _stop_monitor_in(d, req.exec_id.encode(), graceful=False)
            shutil.rmtree(d, ignore_errors=True)
            raise

    def _exec_argv(self, req: ExecRequest, d: Path) -> list[str]:
        argv = self._base_argv(
            cid=req.cid,
            uuid=req.exec_id,
            runtime=req.runtime,
            d=d,
            # Docker keeps no log of an exec's output: it goes to the attached client.
            log="none",
            # Not debug: conmon's forked child logs its start-pipe handshake to its
            # stderr, which is already the process's stderr.
            level="error",
        )
        argv += ["--exec", "--exec-process-spec", str(d / "process.json")]
        if req.tty:
            argv.append("-t")
        if req.stdin:
            argv.append("-i")
        if req.attach:
            argv.append("--exec-attach")
        return argv

    def _spawn_exec(self, req: ExecRequest, d: Path) -> ExecStarted:
        """Start conmon in exec mode. With `attach`, conmon makes its attach socket,
        says so on the attach pipe, and waits on the start pipe before it runs
        `<runtime> exec`: the socket is connected in between."""
        ours: list[int] = []  # our ends of the pipes
        pipes: dict[str, int] = {}  # conmon's ends

        def pipe(name: str, *, conmon_reads: bool) -> int:
            r, w = os.pipe()
            mine, theirs = (w, r) if conmon_reads else (r, w)
            ours.append(mine)
            pipes[name] = theirs
            return mine

        sock: socket.socket | None = None
        try:
            sync = pipe("_OCI_SYNCPIPE", conmon_reads=False)
            if req.attach:
                start = pipe("_OCI_STARTPIPE", conmon_reads=True)
                attached = pipe("_OCI_ATTACHPIPE", conmon_reads=False)
            with self._conmon(self._exec_argv(req, d), d, pipes) as proc:
                if req.attach:
                    os.write(start, b"0")  # conmon's first read: we are ready
                first_rc = proc.wait(timeout=_CREATE_TIMEOUT)
                reply: dict[str, Any] | None = {} if first_rc == 0 else None
                if reply is not None and req.attach:
                    reply = self._read_sync(attached, _CREATE_TIMEOUT)
                    if reply is not None:
                        sock = connect_attach_socket(d / "attach")
                        os.write(start, b"0")  # now run the process
                if reply is not None:
                    reply = self._read_sync(sync, _CREATE_TIMEOUT)
                conmon_err = _stderr_text(proc) if reply is None else ""
            if reply is None:
                raise SystemFailure(
                    f"conmon failed to exec in {req.cid}: {conmon_err or 'no reply'}"
                )
            pid = reply.get("data")
            if not isinstance(pid, int) or pid <= 0:
                args = req.process.get("args") or [None]
                raise exec_error(req.runtime.name, str(reply.get("message", "")), args[0])
            return ExecStarted(pid=pid, attach=sock)
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        finally:
            for fd in ours:
                os.close(fd)

    def _exec_exit_code(self, d: Path) -> int | None:
        code = _read_int(d / "exit")
        return None if code is None else (code if code >= 0 else 255)

    async def exec_wait(self, cid: str, exec_id: str) -> int:
        d = self._exec_dir(cid, exec_id)
        code = self._exec_exit_code(d)
        if code is None:
            await _monitor_exited(d, exec_id.encode())
            code = self._exec_exit_code(d)
        # No record: conmon was killed, or died with the container before writing.
        return 137 if code is None else code

    async def exec_resize(self, cid: str, exec_id: str, height: int, width: int) -> None:
        d = self._exec_dir(cid, exec_id)
        _write_resize(d / "ctl", height, width, f"exec {exec_id}")

    async def exec_remove(self, cid: str, exec_id: str) -> None:
        d = self._exec_dir(cid, exec_id)
        await asyncio.to_thread(_stop_monitor_in, d, exec_id.encode(), graceful=True)
        await asyncio.to_thread(shutil.rmtree, d, True)

    # -- exit ----------------------------------------------------------------------

    def _conmon_pid(self, cid: str) -> int | None:
        return _read_int(self._dir(cid) / "conmon.pid")

    def container_pid(self, cid: str) -> int | None:
        return _read_int(self._dir(cid) / "pid")

    def monitor_alive(self, cid: str) -> bool:
        pid = self._conmon_pid(cid)
        return pid is not None and _process_alive(pid, cid.encode())

    def exit_status(self, cid: str) -> ExitStatus | None:
        d = self._dir(cid)
        try:
            with open(d / "exit", "rb") as f:
                raw = f.read()
                mtime = os.fstat(f.fileno()).st_mtime_ns
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SystemFailure(f"cannot read exit file of {cid}: {exc}") from exc
        try:
            code = int(raw.strip())
        except ValueError:
            code = 255
        return ExitStatus(
            exit_code=code if code >= 0 else 255,
            finished_at=timefmt.format_ns(mtime),
            oom_killed=(d / "oom").exists(),
        )

    def _lost(self) -> ExitStatus:
        return ExitStatus(exit_code=255, finished_at=timefmt.now(), oom_killed=False)

    async def wait(self, cid: str) -> ExitStatus:
        done = self.exit_status(cid)
        if done is not None:
            return done
        if not self._dir(cid).exists():
            raise NoSuchContainer(cid)
        await _monitor_exited(self._dir(cid), cid.encode())
        return self.exit_status(cid) or self._lost()
