"""Container commands other than create/run/start and ps: stop, kill, restart, rm,
pause, unpause, logs, wait, inspect, rename."""

from __future__ import annotations

from pier.cli.common import (
    api_timestamp,
    container_path,
    for_each,
    inspect_raw,
    post_each,
    print_inspect,
)
from pier.cli.flags import FORMAT_F, INT, STRING, Flag, Spec
from pier.cli.main import Context, StatusError
from pier.client.errors import APIError

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STOP = Spec(
    min_args=1,
    flags=(
        Flag(name="signal", short="s", kind=STRING, help="Signal to send to the container"),
        Flag(name="timeout", short="t", kind=INT,
             help="Seconds to wait before killing the container"),
        Flag(name="time", kind=INT, hidden=True),
    ),
)  # fmt: skip


def _stop_params(opts: Any) -> dict[str, Any]:
    """stop's and restart's query: -t (or the hidden old --time) and -s."""
    timeout = opts["timeout"] if "timeout" in opts.given else opts["time"]
    return {"t": timeout, "signal": opts["signal"] or None}


def stop(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(STOP, argv)
    return post_each(ctx, opts.args, "stop", **_stop_params(opts))


KILL = Spec(
    min_args=1,
    flags=(Flag(name="signal", short="s", kind=STRING, help="Signal to send to the container"),),
)


def kill(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(KILL, argv)
    return post_each(ctx, opts.args, "kill", signal=opts["signal"] or None)


def restart(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(STOP, argv)
    return post_each(ctx, opts.args, "restart", **_stop_params(opts))


# pause, unpause and wait: names only
NAMES = Spec(min_args=1)


def pause(ctx: Context, argv: list[str]) -> int:
    return post_each(ctx, ctx.parse(NAMES, argv).args, "pause")


def unpause(ctx: Context, argv: list[str]) -> int:
    return post_each(ctx, ctx.parse(NAMES, argv).args, "unpause")


RM = Spec(
    min_args=1,
    flags=(
        Flag(name="force", short="f",
             help="Force the removal of a running container (uses SIGKILL)"),
        Flag(name="link", short="l", help="Remove the specified link"),
        Flag(name="volumes", short="v",
             help="Remove anonymous volumes associated with the container"),
    ),
)  # fmt: skip


def rm(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(RM, argv)
    params = {"force": opts["force"] or None, "v": opts["volumes"] or None,
              "link": opts["link"] or None}  # fmt: skip

    def act(name: str) -> str | None:
        try:
            ctx.client.delete(container_path(name), **params)
        except APIError as exc:
            # `rm -f` of a missing container is not an error (docker/cli rm.go).
            if opts["force"] and exc.status == 404:
                return None
            raise
        return name

    return for_each(ctx, opts.args, act)


def wait(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(NAMES, argv)

    def act(name: str) -> str:
        result = ctx.client.post_json(container_path(name, "wait")) or {}
        error = (result.get("Error") or {}).get("Message")
        if error:
            raise APIError(500, error)
        return str(result.get("StatusCode", 0))

    return for_each(ctx, opts.args, act)


RENAME = Spec(min_args=2, max_args=2)


def rename(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(RENAME, argv)
    old, new = opts.args
    if not new.strip():
        raise StatusError(1, "Error: new name cannot be blank")
    ctx.client.post(container_path(old, "rename"), name=new)
    return 0


LOGS = Spec(
    min_args=1,
    max_args=1,
    flags=(
        Flag(name="details", help="Show extra details provided to logs"),
        Flag(name="follow", short="f", help="Follow log output"),
        Flag(name="since", kind=STRING,
             help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative '
                  '(e.g. "42m" for 42 minutes)'),
        Flag(name="tail", short="n", kind=STRING, default="all",
             help="Number of lines to show from the end of the logs"),
        Flag(name="timestamps", short="t", help="Show timestamps"),
        Flag(name="until", kind=STRING,
             help='Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative '
                  '(e.g. "42m" for 42 minutes)'),
    ),
)  # fmt: skip


def logs(ctx: Context, argv: list[str]) -> int:
    from pier.cli.streams import OutputCopier

    opts = ctx.parse(LOGS, argv)
    name = opts.args[0]
    info = ctx.client.get_json(container_path(name, "json"))
    tty = bool((info.get("Config") or {}).get("Tty"))
    params = {
        "stdout": 1,
        "stderr": 1,
        "since": api_timestamp(opts["since"] or "") or None,
        "until": api_timestamp(opts["until"] or "") or None,
        "timestamps": opts["timestamps"] or None,
        "follow": opts["follow"] or None,
        "tail": opts["tail"],
        "details": opts["details"] or None,
    }
    resp = ctx.client.request("GET", container_path(info.get("Id", name), "logs"),
                             params=params)  # fmt: skip
    with resp:
        OutputCopier(tty=tty).copy(resp.iter_chunks())
    return 0


INSPECT = Spec(
    min_args=1,
    flags=(
        FORMAT_F,
        Flag(name="size", short="s", help="Display total file sizes if the type is container"),
        Flag(name="type", kind=STRING, help="Only inspect objects of the given type"),
    ),
)  # fmt: skip

CONTAINER_INSPECT = Spec(
    min_args=1,
    flags=(
        FORMAT_F,
        Flag(name="size", short="s", help="Display total file sizes"),
    ),
)  # fmt: skip


def inspect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(INSPECT, argv)
    kind = opts["type"] or ""
    if kind not in ("", "container", "image"):
        raise StatusError(1, f'"{kind}" is not a valid value for --type')

    def fetch(name: str) -> str:
        for k in ("container", "image") if not kind else (kind,):
            try:
                return inspect_raw(ctx, k, name, size=opts["size"] and k == "container")
            except StatusError:
                # With --type the daemon's words; else the next kind, then docker's own.
                if kind:
                    raise
        raise StatusError(1, f"Error: No such object: {name}")

    return print_inspect(ctx, opts.args, opts["format"], fetch)


def container_inspect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(CONTAINER_INSPECT, argv)

    def fetch(name: str) -> str:
        return inspect_raw(ctx, "container", name, size=opts["size"])

    return print_inspect(ctx, opts.args, opts["format"], fetch)
