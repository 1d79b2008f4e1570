"""Creating a container under conmon: its driver directory, the config the runtime
sees, conmon's command line, and the sync pipe's answer (see conmon.py for how conmon
is driven). A failed create leaves nothing: no monitor, runtime state, cgroup or
directory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from pier.config import RuntimeConfig
from pier.errors import Conflict, SystemFailure
from pier.runtime import cgroups, crunstate
from pier.runtime.base import CreateRequest
from pier.runtime.launcher import ConmonLauncher
from pier.runtime.messages import create_error
from pier.runtime.monitor import read_sync, stderr_text, stop_monitor_in

_CREATE_TIMEOUT = 60.0


def is_crun(runtime: RuntimeConfig) -> bool:
    return runtime.name == "crun" or Path(runtime.path).name == "crun"


class ConmonCreator:
    def __init__(self, *, launcher: ConmonLauncher, log_level: str) -> None:
        self._launcher = launcher
        self._log_level = log_level
        self._filters = crunstate.CompiledFilters()

    def create(self, req: CreateRequest) -> int:
        """Start the container's conmon, which runs the runtime's create (blocking)."""
        d = self._launcher.container_dir(req.cid)
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
            self._filters.annotate(runtime.path, config) if is_crun(runtime) else (False, None)
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
        d = self._launcher.container_dir(cid)
        stop_monitor_in(d, cid.encode(), graceful=True)
        if (self._launcher.runtime_root(runtime) / cid).exists():
            self._launcher.run_sync(self._launcher.runtime_argv(runtime, "delete", "--force", cid))
        # A runtime that failed half-way through its create (a cgroup file it could
        # not write) leaves the cgroups it made, and nothing else would remove them.
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, SystemFailure):
            cgroups.remove(json.loads((d / "config.json").read_text())["linux"]["cgroupsPath"])
        shutil.rmtree(d, ignore_errors=True)
