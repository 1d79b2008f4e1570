"""What several commands share, in one place: API paths of named objects, image
references, `--filter`, docker's per-object loops, inspect output, JSON progress
streams and docker's `--since`/`--until` arguments.

Imported by the command modules, so it imports nothing beyond what they need anyway.
"""

from __future__ import annotations

from pier.cli.main import Context, StatusError, print_error
from pier.client.api import quote
from pier.client.errors import APIError

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

    from pier.client.http import Response


# -- named objects and references ------------------------------------------------------


def container_path(name: str, action: str = "") -> str:
    """`/containers/{name}[/action]`, the name escaped for the URL."""
    return f"/containers/{quote(name)}" + (f"/{action}" if action else "")


def image_path(name: str, action: str = "") -> str:
    """`/images/{name}[/action]`: a reference keeps its `/`, `:` and `@` as docker sends it."""
    return f"/images/{quote(name, '/:@')}" + (f"/{action}" if action else "")


def split_tag(ref: str) -> tuple[str, str]:
    """(name, tag) of an image reference; the tag is "" when absent or with a digest."""
    name, tag = ref, ""
    if "@" not in ref:
        slash = ref.rfind("/")
        colon = ref.rfind(":")
        if colon > slash:
            name, tag = ref[:colon], ref[colon + 1 :]
    return name, tag


def familiar(ref: str) -> str:
    """The reference as docker's messages show it: `busybox:latest`."""
    if "@" in ref:
        return ref
    name, tag = split_tag(ref)
    return f"{name}:{tag or 'latest'}"


def full_name(name: str) -> str:
    """The repository with docker.io's defaults, as `fromImage` takes it."""
    first, slash, _rest = name.partition("/")
    if not slash:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"


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


# -- one request per named object ------------------------------------------------------


def for_each(
    ctx: Context, names: list[str], action: Callable[[str], str | None], *, failed: str = ""
) -> int:
    """docker's loop over the objects a command names: `action(name)` returns what to
    print (None: nothing); a daemon error does not stop the others.

    The errors are printed together at the end, as `stop`/`rm`/`rmi` do; with `failed`
    ("start containers") each is printed as it happens and the end says
    `Error: failed to start containers: a, b`, as `start` does.
    """
    errors: list[str] = []
    failures: list[str] = []
    for name in names:
        try:
            printed = action(name)
        except APIError as exc:
            message = f"Error response from daemon: {exc.message}"
            if failed:
                print_error(message)
            errors.append(message)
            failures.append(name)
            continue
        if printed is not None:
            ctx.out(f"{printed}\n")
    if failed and failures:
        raise StatusError(1, f"Error: failed to {failed}: {', '.join(failures)}")
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


def post_each(ctx: Context, names: list[str], verb: str, **params: Any) -> int:
    """POST /containers/{name}/{verb} for each name, printing the name on success."""

    def act(name: str) -> str:
        ctx.client.post(container_path(name, verb), **params)
        return name

    return for_each(ctx, names, act)


# -- inspect ---------------------------------------------------------------------------


def inspect_raw(ctx: Context, kind: str, name: str, *, size: bool = False) -> str:
    """The raw JSON of one container or image ("container", "image"); a missing one is
    StatusError with the daemon's words, as `container inspect` and `inspect --type` say."""
    path = container_path(name, "json") if kind == "container" else image_path(name, "json")
    try:
        return ctx.client.get_raw(path, **({"size": 1} if size else {}))
    except APIError as exc:
        if exc.status != 404:
            raise
        raise StatusError(1, f"Error response from daemon: {exc.message}") from None


def print_inspect(
    ctx: Context, names: list[str], fmt: str | None, fetch: Callable[[str], str]
) -> int:
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


def inspect_objects(ctx: Context, collection: str, names: list[str], fmt: str | None) -> int:
    """`network inspect`, `volume inspect`: GET /<collection>/<name> for each name."""

    def fetch(name: str) -> str:
        try:
            return ctx.client.get_raw(f"/{collection}/{quote(name)}")
        except APIError as exc:
            raise StatusError(1, f"Error response from daemon: {exc.message}") from None

    return print_inspect(ctx, names, fmt, fetch)


def remove_objects(
    ctx: Context,
    collection: str,
    names: list[str],
    *,
    ignore_missing: bool = False,
    **params: Any,
) -> int:
    """`network rm`, `volume rm` as docker 28: each error printed as it happens, the
    name printed on success, then "exit status 1" if any failed."""
    failed = False
    for name in names:
        try:
            ctx.client.delete(f"/{collection}/{quote(name)}", **params)
        except APIError as exc:
            if ignore_missing and exc.status == 404:
                continue
            print_error(f"Error response from daemon: {exc.message}")
            failed = True
            continue
        ctx.out(f"{name}\n")
    if failed:
        raise StatusError(1, "exit status 1")
    return 0


# -- streams ---------------------------------------------------------------------------


def show_progress(resp: Response, out: TextIO | None) -> list[str]:
    """Print a JSON progress stream as docker does without a terminal; errors raise.

    Returns the `status` values (import uses the last one, the image ID).
    """
    from pier.client import jsonlite

    statuses: list[str] = []
    with resp:
        for line in resp.iter_lines():
            try:
                msg = jsonlite.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            error = msg.get("errorDetail") or (
                {"message": msg["error"]} if "error" in msg else None
            )
            if error:
                raise APIError(500, str(error.get("message", "")))
            status = msg.get("status")
            if status is None:
                if msg.get("stream") and out is not None:
                    out.write(msg["stream"])
                continue
            statuses.append(str(status))
            if msg.get("progressDetail") and msg["progressDetail"].get("current"):
                continue  # progress bars are for terminals only
            if out is not None:
                ident = msg.get("id")
                out.write(f"{ident}: {status}\n" if ident else f"{status}\n")
    if out is not None:
        out.flush()
    return statuses


# -- time arguments --------------------------------------------------------------------

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
