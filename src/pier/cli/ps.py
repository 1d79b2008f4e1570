"""`ps`, in a module of its own: it is the command whose start-up is measured against
docker's (DESIGN §11), so it loads only what listing containers needs."""

from __future__ import annotations

from pier.cli.flags import FORMAT, INT, LIST, Flag, Spec
from pier.cli.main import Context

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


PS = Spec(
    max_args=0,
    flags=(
        Flag(name="all", short="a", help="Show all containers (default shows just running)"),
        Flag(name="filter", short="f", kind=LIST, type_name="filter",
             help="Filter output based on conditions provided"),
        FORMAT,
        Flag(name="last", short="n", kind=INT, default=-1,
             help="Show n last created containers (includes all states)"),
        Flag(name="latest", short="l",
             help="Show the latest created container (includes all states)"),
        Flag(name="no-trunc", help="Don't truncate output"),
        Flag(name="quiet", short="q", help="Only display container IDs"),
        Flag(name="size", short="s", help="Display total file sizes"),
    ),
)  # fmt: skip


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
        from pier.cli.common import parse_filters

        params["filters"] = parse_filters(opts["filter"])
    containers = ctx.client.get_json("/containers/json", **params)
    trunc = not opts["no-trunc"]
    table = formatter.PS_TABLE + ("\t{{.Size}}" if opts["size"] else "")
    fmt = formatter.chosen(fmt, table, quiet=opts["quiet"])
    rows = [formatter.ContainerContext(c, trunc=trunc) for c in containers]
    ctx.out(formatter.render(fmt, rows, formatter.CONTAINER_HEADERS, "*formatter.ContainerContext"))
    return 0
