"""`pier volume ...` (create, ls, inspect, rm, prune) with docker's flags, tables and
messages."""

from __future__ import annotations

from pier.cli.common import inspect_objects, parse_filters, remove_objects
from pier.cli.flags import FORMAT, FORMAT_F, LIST, STRING, Flag, Spec
from pier.cli.main import Context, StatusError
from pier.client.errors import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CREATE = Spec(
    max_args=1,
    flags=(
        Flag(name="driver", short="d", kind=STRING, default="local",
             help="Specify volume driver name"),
        Flag(name="label", kind=LIST, help="Set metadata for a volume"),
        Flag(name="name", kind=STRING, hidden=True, help="Specify volume name"),
        Flag(name="opt", short="o", kind=LIST, type_name="map",
             help="Set driver specific options"),
    ),
)  # fmt: skip


def _pairs(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


def create(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(CREATE, argv)
    name = opts.args[0] if opts.args else ""
    if name and opts["name"] and name != opts["name"]:
        raise StatusError(1, "conflicting options: cannot specify a volume-name through both "
                          "--name and as a positional arg")  # fmt: skip
    body = {
        "Name": name or opts["name"] or "",
        "Driver": opts["driver"],
        "DriverOpts": _pairs(opts["opt"]),
        "Labels": _pairs(opts["label"]),
    }
    try:
        created = ctx.client.post_json("/volumes/create", body)
    except APIError as exc:
        raise StatusError(1, f"Error response from daemon: {exc.message}") from None
    ctx.out(f"{created['Name']}\n")
    return 0


class VolumeContext:
    go_type = "*formatter.volumeContext"

    def __init__(self, vol: dict[str, Any]) -> None:
        self.v = vol

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k)() for k in HEADERS}

    def Name(self) -> str:
        return str(self.v.get("Name", ""))

    def Driver(self) -> str:
        return str(self.v.get("Driver", ""))

    def Scope(self) -> str:
        return str(self.v.get("Scope", ""))

    def Mountpoint(self) -> str:
        return str(self.v.get("Mountpoint", ""))

    def Labels(self) -> str:
        return ",".join(f"{k}={v}" for k, v in (self.v.get("Labels") or {}).items())

    def Links(self) -> str:
        usage = self.v.get("UsageData")
        return "N/A" if not usage else str(usage.get("RefCount", 0))

    def Size(self) -> str:
        from pier.cli.output import human_size

        usage = self.v.get("UsageData")
        if not usage or usage.get("Size", -1) == -1:
            return "N/A"
        return human_size(int(usage["Size"]), 4)

    def Label(self, name: str) -> str:
        return str((self.v.get("Labels") or {}).get(name, ""))


HEADERS = {
    "Name": "VOLUME NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
}
TABLE = "table {{.Driver}}\t{{.Name}}"

LS = Spec(
    max_args=0,
    flags=(
        Flag(name="filter", short="f", kind=LIST, type_name="filter",
             help="Provide filter values (e.g. \"dangling=true\")"),
        FORMAT,
        Flag(name="quiet", short="q", help="Only display volume names"),
    ),
)  # fmt: skip


def ls(ctx: Context, argv: list[str]) -> int:
    from pier.cli import formatter

    opts = ctx.parse(LS, argv)
    filters = parse_filters(opts["filter"]) if opts["filter"] else {}
    try:
        vols = ctx.client.get_json("/volumes", filters=filters or None).get("Volumes") or []
    except APIError as exc:
        raise StatusError(1, f"Error response from daemon: {exc.message}") from None
    vols.sort(key=lambda v: str(v.get("Name", "")))
    fmt = "{{.Name}}" if opts["quiet"] else formatter.chosen(opts["format"] or "", TABLE)
    rows = [VolumeContext(v) for v in vols]
    ctx.out(formatter.render(fmt, rows, HEADERS, VolumeContext.go_type))
    return 0


INSPECT = Spec(min_args=1, flags=(FORMAT_F,))


def inspect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(INSPECT, argv)
    return inspect_objects(ctx, "volumes", opts.args, opts["format"] or None)


RM = Spec(
    min_args=1,
    flags=(Flag(name="force", short="f", help="Force the removal of one or more volumes"),),
)


def rm(ctx: Context, argv: list[str]) -> int:
    """As docker: each error printed as it happens, then "exit status 1"."""
    opts = ctx.parse(RM, argv)
    return remove_objects(ctx, "volumes", opts.args, force="1" if opts["force"] else None)


PRUNE = Spec(
    max_args=0,
    flags=(
        Flag(name="all", short="a", help="Remove all unused volumes, not just anonymous ones"),
        Flag(name="filter", kind=LIST, type_name="filter",
             help="Provide filter values (e.g. \"label=<label>\")"),
        Flag(name="force", short="f", help="Do not prompt for confirmation"),
    ),
)  # fmt: skip

_ANON_WARNING = ("WARNING! This will remove anonymous local volumes not used by at least one "
                 "container.\nAre you sure you want to continue?")  # fmt: skip
_ALL_WARNING = ("WARNING! This will remove all local volumes not used by at least one "
                "container.\nAre you sure you want to continue?")  # fmt: skip


def run_prune(ctx: Context, filters: dict[str, dict[str, bool]], *, all: bool) -> tuple[int, str]:
    """The prune itself: (space reclaimed, the lines docker prints)."""
    if all:
        if "all" in filters:
            raise StatusError(1, "conflicting options: cannot specify both --all and --filter "
                              "all=1")  # fmt: skip
        filters = {**filters, "all": {"true": True}}
    try:
        report = ctx.client.post_json("/volumes/prune", None, filters=filters or None)
    except APIError as exc:
        raise StatusError(1, f"Error response from daemon: {exc.message}") from None
    deleted = report.get("VolumesDeleted") or []
    if not deleted:
        return 0, ""
    return int(report.get("SpaceReclaimed") or 0), "Deleted Volumes:\n" + "".join(
        f"{v}\n" for v in deleted
    )


def prune(ctx: Context, argv: list[str]) -> int:
    from pier.cli.disk import confirm, reclaimed

    opts = ctx.parse(PRUNE, argv)
    filters = parse_filters(opts["filter"]) if opts["filter"] else {}
    if not opts["force"]:
        confirm(ctx, _ALL_WARNING if opts["all"] else _ANON_WARNING, "volume prune")
    space, text = run_prune(ctx, filters, all=opts["all"])
    if text:
        ctx.out(text + "\n")
    ctx.out(reclaimed(space))
    return 0
