"""`events`: the daemon's events as they happen, or between --since and --until."""

from __future__ import annotations

from pier.cli.common import api_timestamp, parse_filters
from pier.cli.flags import LIST, STRING, Flag, Spec
from pier.cli.main import Context, StatusError

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EVENTS = Spec(
    max_args=0,
    flags=(
        Flag(name="filter", short="f", kind=LIST, type_name="filter",
             help="Filter output based on conditions provided"),
        Flag(name="format", kind=STRING,
             help="Format output using a custom template:\n'json':             Print in JSON "
                  "format\n'TEMPLATE':         Print output using the given Go template."),
        Flag(name="since", kind=STRING, help="Show all events created since timestamp"),
        Flag(name="until", kind=STRING, help="Stream events until this timestamp"),
    ),
)  # fmt: skip


def pretty(event: dict[str, Any]) -> str:
    """docker's prettyPrintEvent: local time with nine fraction digits, type, action,
    actor and its attributes sorted by key."""
    import time

    nanos = int(event.get("timeNano") or 0) or int(event.get("time") or 0) * 1_000_000_000
    seconds, fraction = divmod(nanos, 1_000_000_000)
    local = time.localtime(seconds)
    offset = local.tm_gmtoff or 0
    zone = (
        "Z"
        if offset == 0
        else f"{'+' if offset > 0 else '-'}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    )
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{fraction:09d}{zone}"
    actor = event.get("Actor") or {}
    line = f"{stamp} {event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    attrs = actor.get("Attributes") or {}
    if attrs:
        line += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return line + "\n"


def events(ctx: Context, argv: list[str]) -> int:
    import json
    import sys

    opts = ctx.parse(EVENTS, argv)
    params: dict[str, Any] = {}
    if opts["since"]:
        params["since"] = api_timestamp(opts["since"])
    if opts["until"]:
        params["until"] = api_timestamp(opts["until"])
    if opts["filter"]:
        params["filters"] = parse_filters(opts["filter"])
    fmt = opts["format"] or ""
    template = None
    if fmt and fmt != "json":
        from pier.cli.gotemplate import Template, TemplateParseError

        try:
            template = Template(fmt.replace("\\t", "\t").replace("\\n", "\n"))
        except TemplateParseError as exc:
            raise StatusError(1, f"template parsing error: {exc}") from None
    resp = ctx.client.request("GET", "/events", params=params)
    with resp:
        for line in resp.iter_lines():
            event = json.loads(line)
            if fmt == "json":
                text = json.dumps(event, separators=(",", ":")) + "\n"
            elif template is not None:
                from pier.cli.gotemplate import TemplateError

                try:
                    text = template.execute(event) + "\n"
                except TemplateError as exc:
                    raise StatusError(1, f"failed to execute template: {exc}") from None
            else:
                text = pretty(event)
            ctx.out(text)
            sys.stdout.flush()
    return 0
