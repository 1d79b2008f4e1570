"""Container commands other than create/run/start: ps, stop, kill, restart, rm,
logs, wait, inspect, rename."""

from __future__ import annotations

from pier.cli.flags import INT, LIST, STRING, Flag, Spec
from pier.cli.main import Context, StatusError
from pier.client.api import quote
from pier.client.errors import APIError

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_FORMAT_HELP = "Format output using a custom template"

PS = Spec(
    usage="[OPTIONS]",
    description="List containers",
    max_args=0,
    aliases=("pier container ls", "pier container list", "pier container ps", "pier ps"),
    flags=(
        Flag(name="all", short="a", help="Show all containers (default shows just running)"),
        Flag(name="filter", short="f", kind=LIST, type_name="filter",
             help="Filter output based on conditions provided"),
        Flag(name="format", kind=STRING, help=_FORMAT_HELP),
        Flag(name="last", short="n", kind=INT, default=-1,
             help="Show n last created containers (includes all states)"),
        Flag(name="latest", short="l",
             help="Show the latest created container (includes all states)"),
        Flag(name="no-trunc", help="Don't truncate output"),
        Flag(name="quiet", short="q", help="Only display container IDs"),
        Flag(name="size", short="s", help="Display total file sizes"),
    ),
)  # fmt: skip


def parse_filters(items: list[str]) -> dict[str, dict[str, bool]]:
    """`-f key=value` repeated, as the API's `{"key": {"value": true}}`."""
    out: dict[str, dict[str, bool]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise StatusError(125, f"invalid argument \"{item}\" for \"-f, --filter\" flag: "
                              f"bad format of filter (expected name=value)")  # fmt: skip
        out.setdefault(key.strip().lower(), {})[value] = True
    return out


def ps(ctx: Context, argv: list[str]) -> int:
    from pier.cli import formatter

    opts = ctx.parse(PS, argv)
    fmt = opts["format"] or ""
    last = opts["last"]
    if last == -1 and opts["latest"]:
        last = 1
    params: dict[str, Any] = {}
    if opts["all"] or last != -1:
        params["all"] = 1
    if last > 0:
        params["limit"] = last
    if opts["size"] or ".Size" in fmt:
        params["size"] = 1
    if opts["filter"]:
        params["filters"] = parse_filters(opts["filter"])
    containers = ctx.client.get_json("/containers/json", **params)
    trunc = not opts["no-trunc"]
    if opts["quiet"]:
        fmt = "{{.ID}}"
    elif not fmt or fmt == "table":
        fmt = formatter.PS_TABLE + ("\t{{.Size}}" if opts["size"] else "")
    elif fmt == "json":
        fmt = "{{json .}}"
    rows = [formatter.ContainerContext(c, trunc=trunc) for c in containers]
    ctx.out(formatter.render(fmt, rows, formatter.CONTAINER_HEADERS, "*formatter.ContainerContext"))
    return 0


def _each(ctx: Context, names: list[str], action: Any, failure: str = "") -> int:
    """Run `action(name)` for each name, printing names or errors as docker does."""
    errors: list[str] = []
    out: list[str] = []
    for name in names:
        try:
            printed = action(name)
        except APIError as exc:
            errors.append(f"Error response from daemon: {exc.message}")
            continue
        if printed is not None:
            out.append(f"{printed}\n")
            ctx.out(out[-1])
    if errors:
        message = "\n".join(errors)
        if failure:
            message += "\n" + failure.format(names=", ".join(
                n for n in names if any(n in e for e in errors)))  # fmt: skip
        raise StatusError(1, message)
    return 0


STOP = Spec(
    usage="[OPTIONS] CONTAINER [CONTAINER...]",
    description="Stop one or more running containers",
    min_args=1,
    flags=(
        Flag(name="signal", short="s", kind=STRING, help="Signal to send to the container"),
        Flag(name="timeout", short="t", kind=INT,
             help="Seconds to wait before killing the container"),
        Flag(name="time", kind=INT, hidden=True),
    ),
)  # fmt: skip


def _post_each(ctx: Context, names: list[str], verb: str, **params: Any) -> int:
    """POST /containers/{name}/{verb} for each name, as docker's per-container loop."""

    def act(name: str) -> str:
        ctx.client.post(f"/containers/{quote(name)}/{verb}", **params)
        return name

    return _each(ctx, names, act)


def _stop_params(opts: Any) -> dict[str, Any]:
    """stop's and restart's query: -t (or the hidden old --time) and -s."""
    timeout = opts["timeout"] if "timeout" in opts.given else opts["time"]
    return {"t": timeout, "signal": opts["signal"] or None}


def stop(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(STOP, argv)
    return _post_each(ctx, opts.args, "stop", **_stop_params(opts))


KILL = Spec(
    usage="[OPTIONS] CONTAINER [CONTAINER...]",
    description="Kill one or more running containers",
    min_args=1,
    flags=(Flag(name="signal", short="s", kind=STRING, help="Signal to send to the container"),),
)


def kill(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(KILL, argv)
    return _post_each(ctx, opts.args, "kill", signal=opts["signal"] or None)


RESTART = Spec(
    usage="[OPTIONS] CONTAINER [CONTAINER...]",
    description="Restart one or more containers",
    min_args=1,
    flags=STOP.flags,
)


def restart(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(RESTART, argv)
    return _post_each(ctx, opts.args, "restart", **_stop_params(opts))


PAUSE = Spec(
    usage="CONTAINER [CONTAINER...]",
    description="Pause all processes within one or more containers",
    min_args=1,
)
UNPAUSE = Spec(
    usage="CONTAINER [CONTAINER...]",
    description="Unpause all processes within one or more containers",
    min_args=1,
)


def pause(ctx: Context, argv: list[str]) -> int:
    return _post_each(ctx, ctx.parse(PAUSE, argv).args, "pause")


def unpause(ctx: Context, argv: list[str]) -> int:
    return _post_each(ctx, ctx.parse(UNPAUSE, argv).args, "unpause")


RM = Spec(
    usage="[OPTIONS] CONTAINER [CONTAINER...]",
    description="Remove one or more containers",
    min_args=1,
    aliases=("pier container rm", "pier container remove", "pier rm"),
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
            ctx.client.delete(f"/containers/{quote(name)}", **params)
        except APIError as exc:
            # `rm -f` of a missing container is not an error (docker/cli rm.go).
            if opts["force"] and exc.status == 404:
                return None
            raise
        return name

    return _each(ctx, opts.args, act)


WAIT = Spec(
    usage="CONTAINER [CONTAINER...]",
    description="Block until one or more containers stop, then print their exit codes",
    min_args=1,
)


def wait(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(WAIT, argv)

    def act(name: str) -> str:
        result = ctx.client.post_json(f"/containers/{quote(name)}/wait") or {}
        error = (result.get("Error") or {}).get("Message")
        if error:
            raise APIError(500, error)
        return str(result.get("StatusCode", 0))

    return _each(ctx, opts.args, act)


RENAME = Spec(
    usage="CONTAINER NEW_NAME",
    description="Rename a container",
    min_args=2,
    max_args=2,
)


def rename(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(RENAME, argv)
    old, new = opts.args
    if not new.strip():
        raise StatusError(1, "Error: new name cannot be blank")
    ctx.client.post(f"/containers/{quote(old)}/rename", name=new)
    return 0


LOGS = Spec(
    usage="[OPTIONS] CONTAINER",
    description="Fetch the logs of a container",
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

_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go duration ("1h30m", "42m", "1.5s"), or None if it is not one."""
    if not text:
        return None
    sign = -1.0 if text.startswith("-") else 1.0
    rest = text.lstrip("+-")
    total = 0.0
    if rest == "0":
        return 0.0
    while rest:
        i = 0
        while i < len(rest) and (rest[i].isdigit() or rest[i] == "."):
            i += 1
        if i == 0:
            return None
        try:
            number = float(rest[:i])
        except ValueError:
            return None
        rest = rest[i:]
        for unit in ("ns", "us", "µs", "ms", "s", "m", "h"):
            if rest.startswith(unit) and not (unit == "m" and rest.startswith("ms")):
                total += number * _DURATION_UNITS[unit]
                rest = rest[len(unit) :]
                break
        else:
            return None
    return sign * total


def api_timestamp(value: str, now: float | None = None) -> str:
    """Docker's timetypes.GetTimestamp: durations are relative to now, else RFC 3339 or Unix."""
    import time

    from pier import timefmt

    if not value:
        return ""
    current = time.time() if now is None else now
    seconds = parse_go_duration(value)
    if seconds is not None:
        return timefmt.unix_fraction(current - seconds)
    head = value.partition(".")[0]
    if head.lstrip("-").isdigit() and "-" not in value[1:]:
        return value
    text = value + "T00:00:00" if len(value) == 10 else value
    if len(text) >= 19 and text[19:].rstrip("0123456789.") == "":
        text += "Z"  # no zone given: UTC
    try:
        stamp = timefmt.parse_ns(text) / 1e9
    except ValueError:
        raise StatusError(1, f'failed to parse value as time or duration: "{value}"') from None
    return timefmt.unix_fraction(stamp)


def logs(ctx: Context, argv: list[str]) -> int:
    from pier.cli.streams import OutputCopier

    opts = ctx.parse(LOGS, argv)
    name = opts.args[0]
    info = ctx.client.get_json(f"/containers/{quote(name)}/json")
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
    resp = ctx.client.request("GET", f"/containers/{quote(info.get('Id', name))}/logs",
                             params=params)  # fmt: skip
    with resp:
        OutputCopier(tty=tty).copy(resp.iter_chunks())
    return 0


INSPECT = Spec(
    usage="[OPTIONS] NAME|ID [NAME|ID...]",
    description="Return low-level information on Docker objects",
    min_args=1,
    flags=(
        Flag(name="format", short="f", kind=STRING, help=_FORMAT_HELP),
        Flag(name="size", short="s", help="Display total file sizes if the type is container"),
        Flag(name="type", kind=STRING, help="Only inspect objects of the given type"),
    ),
)  # fmt: skip

CONTAINER_INSPECT = Spec(
    usage="[OPTIONS] CONTAINER [CONTAINER...]",
    description="Display detailed information on one or more containers",
    min_args=1,
    flags=(
        Flag(name="format", short="f", kind=STRING, help=_FORMAT_HELP),
        Flag(name="size", short="s", help="Display total file sizes"),
    ),
)  # fmt: skip


def _get_raw(ctx: Context, kind: str, name: str, size: bool, *, typed: bool) -> str | None:
    """The raw JSON of one object; None if it does not exist and `typed` is False.

    With --type (or `container inspect`/`image inspect`) docker prints the
    daemon's own 404 message; untyped lookups fall through to the next kind.
    """
    path = f"/containers/{quote(name)}/json" if kind == "container" else (
        f"/images/{quote(name, '/:@')}/json")  # fmt: skip
    params = {"size": 1} if size and kind == "container" else {}
    try:
        return ctx.client.get_raw(path, **params)
    except APIError as exc:
        if exc.status != 404:
            raise
        if typed:
            raise StatusError(1, f"Error response from daemon: {exc.message}") from None
        return None


def print_inspect(ctx: Context, names: list[str], fmt: str | None, fetch: Any) -> int:
    """Shared by `inspect`, `container inspect` and `image inspect`.

    `fetch(name)` returns the raw JSON text or raises StatusError with docker's message.
    """
    from pier.client import jsonlite

    raws: list[str] = []
    errors: list[str] = []
    for name in names:
        try:
            raws.append(fetch(name))
        except StatusError as exc:
            errors.append(exc.message)
    if fmt:
        from pier.cli.gotemplate import Template, TemplateError, TemplateParseError

        try:
            tmpl = Template(fmt, missing_key_error=True)
        except TemplateParseError as exc:
            raise StatusError(64, f"template parsing error: {exc}") from None
        out = []
        try:
            for raw in raws:
                out.append(tmpl.execute(jsonlite.loads(raw)) + "\n")
        except TemplateError as exc:
            # docker discards the partial output and prints an empty line.
            ctx.out("\n")
            raise StatusError(1, f"template parsing error: {exc}") from None
        ctx.out("".join(out))
    else:
        body = jsonlite.indent("[" + ",".join(raws) + "]")
        ctx.out(body + "\n")
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


def inspect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(INSPECT, argv)
    kind = opts["type"] or ""
    if kind not in ("", "container", "image"):
        raise StatusError(1, f'"{kind}" is not a valid value for --type')

    def fetch(name: str) -> str:
        for k in ("container", "image") if not kind else (kind,):
            raw = _get_raw(ctx, k, name, opts["size"], typed=bool(kind))
            if raw is not None:
                return raw
        raise StatusError(1, f"Error: No such object: {name}")

    return print_inspect(ctx, opts.args, opts["format"], fetch)


def container_inspect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(CONTAINER_INSPECT, argv)

    def fetch(name: str) -> str:
        raw = _get_raw(ctx, "container", name, opts["size"], typed=True)
        assert raw is not None
        return raw

    return print_inspect(ctx, opts.args, opts["format"], fetch)
