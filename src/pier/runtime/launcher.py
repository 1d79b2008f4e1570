"""Starting conmon and calling the OCI runtime: the paths, argv and processes that
the container and exec parts of the driver share.

Everything for one container lives in `<exec_root>/conmon/<cid>/` (its execs in
`exec/<exec id>/` below it); each runtime keeps its state under
`<exec_root>/runtime/<runtime name>` (`--root`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from pier.config import RuntimeConfig
from pier.errors import NoSuchContainer, SystemFailure
from pier.runtime.conmon_binary import ConmonBinary

RUNTIME_TIMEOUT = 60.0


class ConmonLauncher:
    def __init__(self, *, exec_root: Path, conmon: ConmonBinary) -> None:
        self.exec_root = exec_root
        self._conmon_path = conmon.path

    def container_dir(self, cid: str) -> Path:
        if not cid or "/" in cid or cid in (".", ".."):
            raise NoSuchContainer(cid)
        return self.exec_root / "conmon" / cid

    def runtime_root(self, runtime: RuntimeConfig) -> Path:
        return self.exec_root / "runtime" / runtime.name

    def runtime_argv(self, runtime: RuntimeConfig, *args: str) -> list[str]:
        return [runtime.path, f"--root={self.runtime_root(runtime)}", *runtime.args, *args]

    @staticmethod
    def run_sync(argv: list[str]) -> tuple[int, str]:
        """Run a runtime subcommand: (exit code, stderr then stdout)."""
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=RUNTIME_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SystemFailure(f"{argv[0]} {' '.join(argv[2:])}: {exc}") from exc
        return done.returncode, (done.stderr + b"\n" + done.stdout).decode(errors="replace")

    async def run(self, runtime: RuntimeConfig, *args: str) -> tuple[int, str]:
        return await asyncio.to_thread(self.run_sync, self.runtime_argv(runtime, *args))

    def base_argv(
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
            f"--runtime-arg=--root={self.runtime_root(runtime)}",
        ]
        return argv + [f"--runtime-arg={arg}" for arg in runtime.args]

    @contextlib.contextmanager
    def spawn(
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
