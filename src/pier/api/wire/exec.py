"""Exec requests and inspect bodies on the wire (moby 28: ExecOptions, ExecStartOptions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pier.api.wire import gojson
from pier.api.wire.containers import console_size
from pier.containers.exec import ExecConfig, ExecInstance

# The structs moby 28 decodes the bodies into: their names lead the decoder's errors.
_CREATE = "ExecOptions"
START = "ExecStartOptions"


def parse_exec_config(body: Mapping[str, Any]) -> ExecConfig:
    def flag(key: str) -> bool:
        return gojson.boolean(body.get(key), f"{_CREATE}.{key}")

    keys = gojson.string(body.get("DetachKeys"), f"{_CREATE}.DetachKeys")
    return ExecConfig(
        cmd=gojson.strings(body.get("Cmd"), f"{_CREATE}.Cmd"),
        env=gojson.strings(body.get("Env"), f"{_CREATE}.Env"),
        working_dir=gojson.string(body.get("WorkingDir"), f"{_CREATE}.WorkingDir"),
        user=gojson.string(body.get("User"), f"{_CREATE}.User"),
        tty=flag("Tty"),
        attach_stdin=flag("AttachStdin"),
        attach_stdout=flag("AttachStdout"),
        attach_stderr=flag("AttachStderr"),
        privileged=flag("Privileged"),
        detach_keys=keys or None,
        console_size=console_size(body.get("ConsoleSize"), f"{_CREATE}.ConsoleSize"),
    )


def render_exec(e: ExecInstance) -> dict[str, Any]:
    cfg = e.config
    return {
        "CanRemove": False,
        "ContainerID": e.container_id,
        "DetachKeys": cfg.detach_keys or "",
        "ExitCode": e.exit_code,
        "ID": e.id,
        "OpenStderr": cfg.attach_stderr,
        "OpenStdin": cfg.attach_stdin,
        "OpenStdout": cfg.attach_stdout,
        "ProcessConfig": {
            "arguments": list(cfg.cmd[1:]),
            "entrypoint": cfg.cmd[0] if cfg.cmd else "",
            "privileged": cfg.privileged,
            "tty": cfg.tty,
            "user": cfg.user,
        },
        "Running": e.running,
        "Pid": e.pid,
    }
