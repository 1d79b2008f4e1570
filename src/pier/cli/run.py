"""`create`, `run` and `start`: Docker's flow, output and exit codes.

`run` without -d: create (404 -> pull -> create again), attach (hijacked) BEFORE
start so no output is lost, `wait?condition=next-exit` (or `removed` with --rm)
also before start, start, copy output, exit with the container's status.
"""

from __future__ import annotations

import os
import sys

from pier.cli.common import container_path, familiar, for_each, full_name, show_progress, split_tag
from pier.cli.flags import STRING, Flag, Spec
from pier.cli.main import Context, StatusError
from pier.cli.netopts import localhost_dns_warnings
from pier.cli.runopts import RUN_FLAGS, OptionError, create_body
from pier.client.errors import APIError, ClientError, DaemonUnreachable
from pier.client.http import Response

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


RUN = Spec(
    min_args=1,
    interspersed=False,
    flags=RUN_FLAGS,
)
CREATE = Spec(
    min_args=1,
    interspersed=False,
    flags=(
        *(f for f in RUN_FLAGS if f.name not in ("detach", "rm", "sig-proxy", "detach-keys")),
        Flag(name="rm", help="Automatically remove the container when it exits"),
    ),
)
START = Spec(
    min_args=1,
    flags=(
        Flag(name="attach", short="a", help="Attach STDOUT/STDERR and forward signals"),
        Flag(name="detach-keys", kind=STRING, help="Override the key sequence for detaching"),
        Flag(name="interactive", short="i", help="Attach container's STDIN"),
    ),
)


def exit_status(message: str) -> int:
    """docker/cli run.go toStatusError: 127 not found, 126 not executable, else 125."""
    if (
        "executable file not found" in message
        or "no such file or directory" in message
        or "system cannot find the file specified" in message
    ):
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def run_error(ctx: Context, message: str, status: int | None = None) -> StatusError:
    return StatusError(
        exit_status(message) if status is None else status,
        f"pier: {message}\n\nRun '{ctx.path} --help' for more information",
    )


def _pull(ctx: Context, image: str, quiet: bool, platform: str = "") -> None:
    name, tag = split_tag(image)
    params: dict[str, Any] = {"fromImage": full_name(name), "platform": platform or None}
    if "@" not in image:
        params["tag"] = tag or "latest"
    resp = ctx.client.request(
        "POST", "/images/create", params=params, headers={"X-Registry-Auth": "e30="}
    )
    show_progress(resp, sys.stderr if not quiet else None)


def _create(ctx: Context, opts: Any, body: dict[str, Any]) -> str:
    image = body["Image"]
    params = {"name": opts["name"] or None, "platform": opts["platform"] or None}
    pull = opts["pull"] or "missing"
    creds: dict[str, Any] = {}
    if opts["use-api-socket"]:
        from pier.cli import apisocket

        try:
            creds = apisocket.prepare(ctx.host, body)
        except ValueError as exc:
            raise run_error(ctx, str(exc), 125) from None
    if pull == "always":
        _pull(ctx, image, opts["quiet"], opts["platform"])
    try:
        result = ctx.client.post_json("/containers/create", body, **params)
    except APIError as exc:
        if exc.status != 404 or pull == "never" or "image" not in exc.message.lower():
            raise
        sys.stderr.write(f"Unable to find image '{familiar(image)}' locally\n")
        sys.stderr.flush()
        _pull(ctx, image, opts["quiet"], opts["platform"])
        result = ctx.client.post_json("/containers/create", body, **params)
    for warning in [*(result.get("Warnings") or []), *localhost_dns_warnings(body)]:
        sys.stderr.write(f"WARNING: {warning}\n")
    cid = str(result["Id"])
    if creds:
        from pier.cli import apisocket

        apisocket.inject(ctx.client, cid, creds)
    if opts["cidfile"]:
        with open(opts["cidfile"], "x") as f:
            f.write(cid)
    return cid


def _console_size() -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(1)
    except OSError:
        return None
    return size.lines, size.columns


def create(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(CREATE, argv)
    # docker create records the attach fields as an attached run would (so
    # `create -i` + `start -ai` has StdinOnce): only run -d clears them.
    opts.values["detach"] = False
    try:
        body = create_body(opts, opts.args[0], opts.args[1:], environ=os.environ)
    except OptionError as exc:
        raise run_error(ctx, str(exc), 125) from None
    # Unlike run, docker create reports daemon errors plainly with status 1.
    ctx.out(_create(ctx, opts, body) + "\n")
    return 0


def run(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(RUN, argv)
    if opts["detach"] and opts["attach"]:
        raise StatusError(1, "conflicting options: cannot specify both --attach and --detach")
    tty = bool(opts["tty"])
    console = _console_size() if tty else None
    try:
        body = create_body(
            opts, opts.args[0], opts.args[1:], environ=os.environ, console_size=console
        )
    except OptionError as exc:
        raise run_error(ctx, str(exc), 125) from None
    if not opts["detach"] and body["AttachStdin"] and tty and not os.isatty(0):
        from pier.cli.attach import NOT_A_TTY

        raise StatusError(1, NOT_A_TTY)
    try:
        return _run(ctx, opts, body)
    except DaemonUnreachable as exc:
        raise run_error(ctx, str(exc), 125) from None
    except APIError as exc:
        raise run_error(ctx, f"Error response from daemon: {exc.message}") from None
    except ClientError as exc:
        raise run_error(ctx, str(exc), 125) from None


def _run(ctx: Context, opts: Any, body: dict[str, Any]) -> int:
    cid = _create(ctx, opts, body)
    client = ctx.client
    if opts["detach"]:
        client.post(f"/containers/{cid}/start")
        ctx.out(cid + "\n")
        return 0
    # docker run proxies signals with or without a TTY (only `attach` and `start -a`
    # skip TTY containers); SIGWINCH then both resizes and reaches the container.
    return _attach_start_wait(
        ctx,
        cid,
        tty=bool(body["Tty"]),
        stdin=bool(body["AttachStdin"]),
        keys=opts["detach-keys"],
        proxy=bool(opts["sig-proxy"]),
        removed=bool(opts["rm"]),
    )


def _attach_start_wait(
    ctx: Context,
    cid: str,
    *,
    tty: bool,
    stdin: bool,
    keys: str | None,
    proxy: bool,
    removed: bool,
) -> int:
    """docker's attached run and start -a: attach, subscribe to the exit (or the
    removal, with AutoRemove), start, copy the streams; the container's status."""
    from pier.cli.attach import RawTerminal, Resizer, SignalGuard, Streamer, attach_params, hijack

    client = ctx.client
    terminal = RawTerminal()
    resizer = Resizer(client, f"/containers/{cid}/resize") if tty and os.isatty(1) else None
    guard = SignalGuard(client, cid, proxy=proxy, resizer=resizer, terminal=terminal)
    guard.install()
    try:
        conn = hijack(client, f"/containers/{cid}/attach",
                      params=attach_params(stdin=stdin, detach_keys=keys))  # fmt: skip
        try:
            condition = "removed" if removed else "next-exit"
            waiter = client.open("POST", f"/containers/{cid}/wait", params={"condition": condition})
            try:
                if not 200 <= waiter.status < 300:
                    from pier.client.api import error_message

                    raise APIError(waiter.status, error_message(waiter.status, waiter.read()))
                try:
                    client.post(f"/containers/{cid}/start")
                except APIError:
                    if removed:
                        import contextlib

                        # As docker: return once the daemon has removed the container.
                        with contextlib.suppress(ClientError, OSError):
                            waiter.read()
                    raise
                if resizer is not None:
                    resizer.start()
                streamer = Streamer(conn, stdin=stdin, tty=tty, detach_keys=keys,
                                    terminal=terminal)  # fmt: skip
                if streamer.run():
                    return 0  # detached: the container runs on
                conn.close()
                return _wait_status(waiter)
            finally:
                waiter.close()
        finally:
            conn.close()
    finally:
        terminal.restore()
        guard.restore()


def _wait_status(waiter: Response) -> int:
    """The container's status from a /wait opened before start; 125 when the wait
    fails, as docker's waitExitOrRemoved."""
    from pier.client import jsonlite

    try:
        data = waiter.read()
        result = jsonlite.loads(data)
    except (ClientError, OSError, ValueError) as exc:
        raise StatusError(125, f"error waiting for container: {exc or 'no result'}") from None
    error = (result.get("Error") or {}).get("Message")
    if error:
        raise StatusError(125, f"pier: Error response from daemon: {error}")
    return int(result.get("StatusCode") or 0)


def start(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(START, argv)
    if opts["attach"] or opts["interactive"]:
        if len(opts.args) > 1:
            raise StatusError(1, "you cannot start and attach multiple containers at once")
        return _start_attached(ctx, opts)

    def act(name: str) -> str:
        ctx.client.post(container_path(name, "start"))
        return name

    return for_each(ctx, opts.args, act, failed="start containers")


def _start_attached(ctx: Context, opts: Any) -> int:
    """docker start -a/-i: attach, wait (for removal with AutoRemove), then start."""
    info = ctx.client.get_json(container_path(opts.args[0], "json"))
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    return _attach_start_wait(
        ctx,
        str(info["Id"]),
        tty=tty,
        stdin=bool(opts["interactive"] and config.get("OpenStdin")),
        keys=opts["detach-keys"],
        proxy=not tty,
        removed=bool((info.get("HostConfig") or {}).get("AutoRemove")),
    )
