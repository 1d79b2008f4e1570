"""One conmon and the files in its directory: its pidfile and exit records, its
attach socket and control FIFO, the JSON it answers on its sync pipes.

conmon 2.1 (Debian 12's) writes, in the directory it is given: `conmon.pid` (its own
pid), `pid` (the container's or exec'd process's), `exit` ("%d", 128+signal for a
signal) and an empty `oom` once the process has ended, then exits itself. Functions
here take that directory and a marker (the container or exec id, found in conmon's
command line) so a recycled pid is never mistaken for the monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import json
import os
import select
import signal as signals
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pier import timefmt
from pier.errors import Conflict, SystemFailure
from pier.runtime.base import ExitStatus

MONITOR_EXIT_TIMEOUT = 10.0
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


def process_alive(pid: int, marker: bytes | None = None) -> bool:
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


def parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat.rsplit(b")", 1)[-1].split()
    return int(fields[1]) if len(fields) > 1 else None


def read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def wait_pid_exit(pid: int, timeout: float) -> bool:
    """Block until `pid` exits (zombie counts); False on timeout."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return _readable(pidfd, timeout)
    finally:
        os.close(pidfd)


def _readable(fd: int, timeout: float) -> bool:
    """poll, not select: with a thousand containers pierd holds descriptors past
    select's 1024, and select refuses those."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def stop_monitor_in(d: Path, marker: bytes, *, graceful: bool) -> None:
    """Make sure the conmon whose pidfile is in `d` is gone: let it finish on its own
    when `graceful`, then SIGKILL it (if it is still the process we started)."""
    pid = read_int(d / "conmon.pid")
    if pid is None:
        return
    if graceful and wait_pid_exit(pid, MONITOR_EXIT_TIMEOUT):
        return
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if process_alive(pid, marker):
            signals.pidfd_send_signal(pidfd, signals.SIGKILL)
            _readable(pidfd, MONITOR_EXIT_TIMEOUT)
    finally:
        os.close(pidfd)


async def monitor_exited(d: Path, marker: bytes) -> None:
    """Return once the conmon whose pidfile is in `d` has exited."""
    pid = read_int(d / "conmon.pid")
    if pid is None:
        return
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        # Checked after taking the pidfd, so the fd surely names our conmon.
        if not process_alive(pid, marker):
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


def watch_monitor(d: Path, marker: bytes, on_exit: Callable[[], None]) -> Callable[[], None]:
    """Call `on_exit` on the running loop once the conmon whose pidfile is in `d` has
    exited (soon, if it already has); returns what stops watching (harmless twice).

    Only a reader on the conmon's pidfd is kept meanwhile, no task: an idle container
    costs the daemon a descriptor and two small closures, not a coroutine frame."""
    loop = asyncio.get_running_loop()
    pid = read_int(d / "conmon.pid")
    pidfd = -1
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            pidfd = os.pidfd_open(pid)
    # Checked after taking the pidfd, so the fd surely names our conmon.
    if pidfd < 0 or pid is None or not process_alive(pid, marker):
        if pidfd >= 0:
            os.close(pidfd)
        return loop.call_soon(on_exit).cancel
    fd = pidfd

    def stop() -> None:
        nonlocal fd
        if fd >= 0:
            loop.remove_reader(fd)
            os.close(fd)
            fd = -1

    def ready() -> None:
        stop()
        on_exit()

    # In a context of its own: the reader lives as long as the container, and the
    # request's context it would copy holds that request's lease.
    contextvars.Context().run(loop.add_reader, fd, ready)
    return stop


def write_resize(ctl: Path, height: int, width: int, what: str) -> None:
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


def write_reopen_log(ctl: Path) -> bool:
    """Ask conmon to start a new log file (it renames a new one over the path); False
    when the monitor is gone."""
    try:
        fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENXIO):
            return False
        raise SystemFailure(f"cannot rotate the log: {exc}") from exc
    try:
        os.write(fd, b"2 0 0\n")
    except OSError as exc:
        raise SystemFailure(f"cannot rotate the log: {exc}") from exc
    finally:
        os.close(fd)
    return True


def stderr_text(proc: subprocess.Popen[bytes]) -> str:
    """What conmon said on stderr, without waiting for more."""
    with contextlib.suppress(OSError, ValueError):
        assert proc.stderr is not None
        os.set_blocking(proc.stderr.fileno(), False)
        return (proc.stderr.read() or b"").decode(errors="replace").strip()
    return ""


def read_sync(fd: int, timeout: float) -> dict[str, Any] | None:
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


def read_exit(d: Path, cid: str) -> ExitStatus | None:
    """The exit record in `d`, or None while there is none."""
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
