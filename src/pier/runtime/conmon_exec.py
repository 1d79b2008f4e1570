"""The `Execs` role of the conmon driver: each exec runs under a conmon of its own,
in exec mode, with its files in `<container dir>/exec/<exec id>/` (removing the
container removes its execs). A health check's probe needs no monitor: the runtime
runs it directly (`probe_exec`).

The process is rendered to `process.json` there; conmon runs
`<runtime> exec --process process.json --detach`.
With `--exec-attach` it makes its attach socket, says so on `_OCI_ATTACHPIPE` and
waits on `_OCI_STARTPIPE` before running the runtime: the socket is connected in
between, so not a byte of output is missed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pier.errors import Conflict, PierError, SystemFailure
from pier.runtime.base import ExecRequest, ExecStarted, ProbeOutcome, ProbeRequest
from pier.runtime.launcher import ConmonLauncher
from pier.runtime.messages import exec_error
from pier.runtime.monitor import (
    connect_attach_socket,
    monitor_exited,
    read_int,
    read_sync,
    stderr_text,
    stop_monitor_in,
    write_resize,
)
from pier.runtime.probe_exec import run_probe
from pier.runtime.process import render_process

_START_TIMEOUT = 60.0
# No record: conmon was killed, or died with the container before writing one.
_LOST_EXEC_CODE = 137


class ConmonExecs:
    def __init__(self, *, launcher: ConmonLauncher, exited: Callable[[str], bool]) -> None:
        self._launcher = launcher
        self._exited = exited  # whether a container has exited (or its monitor is gone)

    def _dir(self, cid: str, exec_id: str) -> Path:
        if not exec_id or "/" in exec_id or exec_id in (".", ".."):
            raise SystemFailure(f"invalid exec id {exec_id!r}")
        return self._launcher.container_dir(cid) / "exec" / exec_id

    async def exec(self, req: ExecRequest) -> ExecStarted:
        return await asyncio.to_thread(self._exec, req)

    def _exec(self, req: ExecRequest) -> ExecStarted:
        if self._exited(req.cid):
            raise Conflict(f"container {req.cid} is not running")
        d = self._dir(req.cid, req.exec_id)
        d.mkdir(parents=True)
        try:
            (d / "process.json").write_text(json.dumps(render_process(req.process)))
            return self._spawn(req, d)
        except BaseException:
            stop_monitor_in(d, req.exec_id.encode(), graceful=False)
            shutil.rmtree(d, ignore_errors=True)
            raise

    def _argv(self, req: ExecRequest, d: Path) -> list[str]:
        argv = self._launcher.base_argv(
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

    def _spawn(self, req: ExecRequest, d: Path) -> ExecStarted:
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
            with self._launcher.spawn(self._argv(req, d), d, pipes) as proc:
                if req.attach:
                    os.write(start, b"0")  # conmon's first read: we are ready
                first_rc = proc.wait(timeout=_START_TIMEOUT)
                reply: dict[str, Any] | None = {} if first_rc == 0 else None
                if reply is not None and req.attach:
                    reply = read_sync(attached, _START_TIMEOUT)
                    if reply is not None:
                        sock = connect_attach_socket(d / "attach")
                        os.write(start, b"0")  # now run the process
                if reply is not None:
                    reply = read_sync(sync, _START_TIMEOUT)
                conmon_err = stderr_text(proc) if reply is None else ""
            if reply is None:
                raise SystemFailure(
                    f"conmon failed to exec in {req.cid}: {conmon_err or 'no reply'}"
                )
            pid = reply.get("data")
            if not isinstance(pid, int) or pid <= 0:
                executable = req.process.args[0] if req.process.args else None
                raise exec_error(req.runtime.name, str(reply.get("message", "")), executable)
            return ExecStarted(pid=pid, attach=sock)
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        finally:
            for fd in ours:
                os.close(fd)

    @staticmethod
    def _exit_code(d: Path) -> int | None:
        code = read_int(d / "exit")
        return None if code is None else (code if code >= 0 else 255)

    async def exec_wait(self, cid: str, exec_id: str) -> int:
        d = self._dir(cid, exec_id)
        code = self._exit_code(d)
        if code is None:
            await monitor_exited(d, exec_id.encode())
            code = self._exit_code(d)
        return _LOST_EXEC_CODE if code is None else code

    async def exec_resize(self, cid: str, exec_id: str, height: int, width: int) -> None:
        write_resize(self._dir(cid, exec_id) / "ctl", height, width, f"exec {exec_id}")

    async def exec_remove(self, cid: str, exec_id: str) -> None:
        d = self._dir(cid, exec_id)
        await asyncio.to_thread(stop_monitor_in, d, exec_id.encode(), graceful=True)
        await asyncio.to_thread(shutil.rmtree, d, True)

    async def probe(self, req: ProbeRequest) -> ProbeOutcome:
        try:
            return await run_probe(self._launcher, req)
        except PierError:
            # Checked only now: the caller saw it running, and this costs a probe
            # two reads of /proc.
            if self._exited(req.cid):
                raise Conflict(f"container {req.cid} is not running") from None
            raise
