"""Exec requests and inspect bodies on the wire (Docker's ExecConfig, ExecInspect)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pier.api.wire.containers import console_size
from pier.containers.exec import ExecConfig, ExecInstance
from pier.errors import InvalidParameter


def _strs(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, str):
        return (value,)
    raise InvalidParameter(f"json: cannot unmarshal {type(value).__name__} into {field}")


def _bool(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidParameter(
            f"json: cannot unmarshal {type(value).__name__} into Go struct field "
            f"ExecConfig.{key} of type bool"
        )
    return bool(value)


def parse_exec_config(body: Mapping[str, Any]) -> ExecConfig:
    keys = body.get("DetachKeys")
    return ExecConfig(
        cmd=_strs(body.get("Cmd"), "Cmd"),
        env=_strs(body.get("Env"), "Env"),
        working_dir=str(body.get("WorkingDir") or ""),
        user=str(body.get("User") or ""),
        tty=_bool(body, "Tty"),
        attach_stdin=_bool(body, "AttachStdin"),
        attach_stdout=_bool(body, "AttachStdout"),
        attach_stderr=_bool(body, "AttachStderr"),
        privileged=_bool(body, "Privileged"),
        detach_keys=str(keys) if keys else None,
        console_size=console_size(body.get("ConsoleSize")),
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
