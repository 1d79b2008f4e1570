"""`exec`: docker/cli's RunExec, its requests, output and exit codes.

inspect (so a missing container is reported first) -> POST /containers/{id}/exec
-> POST /exec/{id}/start, hijacked unless -d -> resize when there is a TTY ->
GET /exec/{id}/json, whose ExitCode is ours.
"""

from __future__ import annotations

import os

from pier.cli.common import container_path
from pier.cli.flags import LIST, STRING, Flag, Spec
from pier.cli.main import Context, StatusError

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pier.client.api import Client


EXEC = Spec(
    min_args=2,
    interspersed=False,
    flags=(
        Flag(name="detach", short="d", help="Detached mode: run command in the background"),
        Flag(name="detach-keys", kind=STRING,
             help="Override the key sequence for detaching a container"),
        Flag(name="env", short="e", kind=LIST, help="Set environment variables"),
        Flag(name="env-file", kind=LIST, help="Read in a file of environment variables"),
        Flag(name="interactive", short="i", help="Keep STDIN open even if not attached"),
        Flag(name="privileged", help="Give extended privileges to the command"),
        Flag(name="tty", short="t", help="Allocate a pseudo-TTY"),
        Flag(name="user", short="u", kind=STRING,
             help='Username or UID (format: "<name|uid>[:<group|gid>]")'),
        Flag(name="workdir", short="w", kind=STRING, help="Working directory inside the container"),
    ),
)  # fmt: skip


def exec_body(opts: Any, cmd: list[str], environ: Any) -> dict[str, Any]:
    """Docker's ExecOptions as the CLI fills them (parseExec + fillConsoleSize)."""
    from pier.cli.runopts import OptionError, env_list

    try:
        env = env_list(opts, environ)
    except OptionError as exc:
        raise StatusError(1, str(exc)) from None
    detach = bool(opts["detach"])
    tty = bool(opts["tty"])
    body: dict[str, Any] = {
        "User": opts["user"] or "",
        "Privileged": bool(opts["privileged"]),
        "Tty": tty,
        "AttachStdin": not detach and bool(opts["interactive"]),
        "AttachStderr": not detach,
        "AttachStdout": not detach,
        "Detach": detach,
        "DetachKeys": opts["detach-keys"] or "",
        "Env": env or None,
        "WorkingDir": opts["workdir"] or "",
        "Cmd": cmd,
    }
    if tty:
        from pier.cli.attach import Resizer

        # (0, 0) without a terminal, as docker sends it.
        body["ConsoleSize"] = list(Resizer.size())
    return body


def exec_(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(EXEC, argv)
    body = exec_body(opts, opts.args[1:], os.environ)
    client = ctx.client
    name = opts.args[0]
    client.get_json(container_path(name, "json"))
    if not body["Detach"] and body["Tty"] and body["AttachStdin"] and not os.isatty(0):
        from pier.cli.attach import NOT_A_TTY

        raise StatusError(1, NOT_A_TTY)
    created = client.post_json(container_path(name, "exec"), body) or {}
    exec_id = str(created.get("Id") or "")
    if not exec_id:
        raise StatusError(1, "exec ID empty")
    start: dict[str, Any] = {"Detach": body["Detach"], "Tty": body["Tty"]}
    if "ConsoleSize" in body:
        start["ConsoleSize"] = body["ConsoleSize"]
    if body["Detach"]:
        client.post_json(f"/exec/{exec_id}/start", start)
        return 0
    if not _interactive(client, exec_id, body, start):
        return 0
    return _exit_code(client, exec_id)


def _interactive(client: Client, exec_id: str, body: dict[str, Any], start: Any) -> bool:
    """Stream the exec's I/O; False when a SIGINT/SIGTERM ended it (docker exits 0)."""
    from pier.cli.attach import (
        Interrupted,
        RawTerminal,
        Resizer,
        SignalGuard,
        Streamer,
        hijack,
    )

    tty = bool(body["Tty"])
    terminal = RawTerminal()
    # docker exec watches the size when stdin (not stdout) is a terminal.
    resizer = Resizer(client, f"/exec/{exec_id}/resize") if tty and os.isatty(0) else None
    guard = SignalGuard(client, "", proxy=False, resizer=resizer, interrupt=True,
                        terminal=terminal)  # fmt: skip
    guard.install()
    try:
        conn = hijack(client, f"/exec/{exec_id}/start", json=start)
        try:
            if resizer is not None:
                resizer.start()
            streamer = Streamer(conn, stdin=bool(body["AttachStdin"]), tty=tty,
                                detach_keys=body["DetachKeys"], terminal=terminal)  # fmt: skip
            if streamer.run():
                raise StatusError(1, "read escape sequence")
        finally:
            conn.close()
    except Interrupted:
        return False
    finally:
        terminal.restore()
        guard.restore()
    return True


def _exit_code(client: Client, exec_id: str) -> int:
    from pier.client.errors import DaemonUnreachable

    try:
        info = client.get_json(f"/exec/{exec_id}/json") or {}
    except DaemonUnreachable:
        # docker: the daemon probably died; StatusError{-1} exits 255.
        return 255
    return int(info.get("ExitCode") or 0) & 0xFF
