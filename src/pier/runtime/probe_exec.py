"""A health check's probe, run by the OCI runtime directly: `<runtime> exec` as pierd's
own child, no conmon.

A probe needs none of what an exec's monitor is for: no terminal, no stdin, no attach
socket, nothing to survive a daemon restart. So the runtime runs in the foreground
(it waits for the process and exits with its code, 128+signal when killed) with the
process spec on one pipe (`--process /proc/self/fd/N`), the process's stdout and
stderr together on another, and the runtime's own log (`--log`, JSON) on a third,
which tells a failure to start from the process's own stderr. Nothing touches the
disk; pierd's cost is one fork and a few event-loop callbacks.

On timeout (or cancellation) the process's group is killed (crun makes one for it;
under runc it stays in the runtime's own session), so a shell probe's children die
with it, and then the runtime. The timeout runs from the spawn, so it includes the
runtime's few milliseconds of setting up, which dockerd does not count.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
from pathlib import Path

from pier.errors import SystemFailure
from pier.runtime.base import ProbeOutcome, ProbeRequest
from pier.runtime.launcher import ConmonLauncher
from pier.runtime.messages import exec_error
from pier.runtime.process import render_process

_CHUNK = 65536
_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


class _Output:
    """The first `limit` bytes read from a non-blocking pipe; the rest is read and
    dropped, so the process never blocks on a full pipe."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd = fd
        self._limit = limit
        self.data = bytearray()
        self.truncated = False
        self.eof = False

    def drain(self) -> None:
        while not self.eof:
            try:
                chunk = os.read(self.fd, _CHUNK)
            except BlockingIOError:
                return
            if not chunk:
                self.eof = True
                return
            room = self._limit - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            if len(chunk) > max(room, 0):
                self.truncated = True


def _runtime_error(log: bytes) -> str | None:
    """The last error the runtime logged (runc and crun both log JSON lines with
    `--log-format=json`), or None if it logged none."""
    message = None
    for line in log.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("level") == "error":
                message = str(entry.get("msg", ""))
    return message


def _kill_probe(pid: int) -> None:
    """SIGKILL the process group of each child of the runtime `pid` (still unreaped, so
    its children are ours), and the runtime itself."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            children += [int(c) for c in text.split()]
    for child in children:
        with contextlib.suppress(OSError):
            pgid = os.getpgid(child)
            # Never our own group: only a group the runtime made for the process.
            if pgid not in (os.getpgrp(), 0):
                os.killpg(pgid, signal.SIGKILL)
            else:
                os.kill(child, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


async def run_probe(launcher: ConmonLauncher, req: ProbeRequest) -> ProbeOutcome:
    spec = json.dumps(render_process(req.process)).encode()
    fds: list[int] = []

    def pipe() -> tuple[int, int]:
        ends = []
        for fd in os.pipe():
            if fd < 3:  # a daemon started with a std fd closed: keep 0-2 for the child's
                fd, old = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3), fd
                os.close(old)
            fds.append(fd)
            ends.append(fd)
        return ends[0], ends[1]

    try:
        spec_r, spec_w = pipe()
        if len(spec) > 65536:
            fcntl.fcntl(spec_w, fcntl.F_SETPIPE_SZ, len(spec))
        os.write(spec_w, spec)
        out_r, out_w = pipe()
        log_r, log_w = pipe()
        # The child's copies of the spec and log pipes, above every fd we hold so
        # that no dup2 overwrites another's source.
        spec_fd, log_fd = max(fds) + 1, max(fds) + 2
        argv = launcher.runtime_argv(
            req.runtime,
            f"--log=/proc/self/fd/{log_fd}",
            "--log-format=json",
            "exec",
            "--process",
            f"/proc/self/fd/{spec_fd}",
            req.cid,
        )
        try:
            # posix_spawn (a vfork in glibc) from the loop's thread, as asyncio's own
            # subprocess transport forks: cheaper than Popen, and than a thread hop.
            # A session of its own: a ^C to pierd's terminal must not reach it.
            pid = os.posix_spawnp(
                argv[0],
                argv,
                _ENV,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, out_w, 2),
                    (os.POSIX_SPAWN_DUP2, spec_r, spec_fd),
                    (os.POSIX_SPAWN_DUP2, log_w, log_fd),
                ],
                setsid=True,
            )
        except OSError as exc:
            raise SystemFailure(f"cannot run {req.runtime.path}: {exc}") from exc
        for fd in (spec_r, spec_w, out_w, log_w):
            fds.remove(fd)
            os.close(fd)
        return await _finish(pid, req, out_r, log_r)
    finally:
        for fd in fds:
            os.close(fd)


async def _finish(pid: int, req: ProbeRequest, out_r: int, log_r: int) -> ProbeOutcome:
    loop = asyncio.get_running_loop()
    output = _Output(out_r, req.output_limit)
    os.set_blocking(out_r, False)
    os.set_blocking(log_r, False)
    pidfd = os.pidfd_open(pid)  # our unreaped child: the fd surely names it
    exited = asyncio.Event()  # not a future: a timeout would cancel that one

    def on_output() -> None:
        output.drain()
        if output.eof:
            loop.remove_reader(out_r)

    timed_out = False

    def on_timeout() -> None:
        nonlocal timed_out
        timed_out = True
        _kill_probe(pid)

    loop.add_reader(pidfd, exited.set)
    loop.add_reader(out_r, on_output)
    timer = loop.call_later(req.timeout, on_timeout)
    try:
        await exited.wait()
    finally:
        timer.cancel()
        loop.remove_reader(pidfd)
        loop.remove_reader(out_r)
        if not exited.is_set():  # cancelled
            _kill_probe(pid)
        # It has exited, or was just killed: reaping does not block long.
        _, status = os.waitpid(pid, 0)
        os.close(pidfd)
    # Whatever the process wrote is in the pipe now; a leftover it started may keep
    # the pipe open, so read what is there and no more.
    output.drain()
    log = _Output(log_r, 65536)
    log.drain()
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        code = 128 - code
    error = _runtime_error(bytes(log.data))
    if error is not None and not timed_out:
        executable = req.process.args[0] if req.process.args else None
        raise exec_error(req.runtime.name, error, executable)
    return ProbeOutcome(
        exit_code=code, output=bytes(output.data), truncated=output.truncated, timed_out=timed_out
    )
