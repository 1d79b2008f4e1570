"""`pier system df`, `pier system prune`, `pier container prune` and `pier image prune`,
as docker/cli's (the system prune is the CLI's: each prune in turn, then the total)."""

from __future__ import annotations

import sys

from pier.cli.common import parse_filters
from pier.cli.flags import FORMAT, LIST, Flag, Spec
from pier.cli.main import Context, StatusError
from pier.client.errors import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Filters = dict[str, dict[str, bool]]  # as parse_filters makes them


def confirm(ctx: Context, message: str, what: str) -> None:
    """prompt.Confirm; a "no" ends the command with status 1 and nothing printed, as
    docker's cancelled error."""
    ctx.out(message + " [y/N] ")
    sys.stdout.flush()
    if sys.stdin.readline().strip().lower() != "y":
        raise StatusError(1, "")


def _size(n: float) -> str:
    from pier.cli.output import human_size

    return human_size(n, 4)  # go-units HumanSize


def reclaimed(space: int) -> str:
    return f"Total reclaimed space: {_size(space)}\n"


def _post(ctx: Context, path: str, filters: Filters) -> Any:
    try:
        return ctx.client.post_json(path, None, filters=filters or None)
    except APIError as exc:
        raise StatusError(1, f"Error response from daemon: {exc.message}") from None


def _prune_containers(ctx: Context, filters: Filters) -> tuple[int, str]:
    report = _post(ctx, "/containers/prune", filters)
    deleted = report.get("ContainersDeleted") or []
    if not deleted:
        return 0, ""
    text = "Deleted Containers:\n" + "".join(f"{c}\n" for c in deleted)
    return int(report.get("SpaceReclaimed") or 0), text


def _prune_networks(ctx: Context, filters: Filters) -> tuple[int, str]:
    report = _post(ctx, "/networks/prune", filters)
    deleted = report.get("NetworksDeleted") or []
    return 0, ("Deleted Networks:\n" + "".join(f"{n}\n" for n in deleted)) if deleted else ""


def _prune_images(ctx: Context, filters: Filters, *, all: bool) -> tuple[int, str]:
    report = _post(ctx, "/images/prune", {**filters, "dangling": {str(not all).lower(): True}})
    deleted = report.get("ImagesDeleted") or []
    if not deleted:
        return 0, ""
    lines = [f"untagged: {d['Untagged']}\n" if d.get("Untagged") else
             f"deleted: {d.get('Deleted', '')}\n" for d in deleted]  # fmt: skip
    return int(report.get("SpaceReclaimed") or 0), "Deleted Images:\n" + "".join(lines)


_FILTER = Flag(name="filter", kind=LIST, type_name="filter",
               help="Provide filter values (e.g. \"until=<timestamp>\")")  # fmt: skip
_FORCE = Flag(name="force", short="f", help="Do not prompt for confirmation")

CONTAINER_PRUNE = Spec(max_args=0, flags=(_FILTER, _FORCE))


def container_prune(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(CONTAINER_PRUNE, argv)
    if not opts["force"]:
        confirm(ctx, "WARNING! This will remove all stopped containers.\n"
                "Are you sure you want to continue?", "container prune")  # fmt: skip
    space, text = _prune_containers(ctx, parse_filters(opts["filter"]))
    if text:
        ctx.out(text + "\n")
    ctx.out(reclaimed(space))
    return 0


IMAGE_PRUNE = Spec(
    max_args=0,
    flags=(Flag(name="all", short="a", help="Remove all unused images, not just dangling ones"),
           _FILTER, _FORCE),
)  # fmt: skip


def image_prune(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(IMAGE_PRUNE, argv)
    if not opts["force"]:
        what = ("all images without at least one container associated to them" if opts["all"]
                else "all dangling images")  # fmt: skip
        confirm(ctx, f"WARNING! This will remove {what}.\nAre you sure you want to continue?",
                "image prune")  # fmt: skip
    space, text = _prune_images(ctx, parse_filters(opts["filter"]), all=opts["all"])
    if text:
        ctx.out(text + "\n")
    ctx.out(reclaimed(space))
    return 0


SYSTEM_PRUNE = Spec(
    max_args=0,
    flags=(
        Flag(name="all", short="a", help="Remove all unused images not just dangling ones"),
        Flag(name="filter", kind=LIST, type_name="filter",
             help="Provide filter values (e.g. \"label=<key>=<value>\")"),
        _FORCE,
        Flag(name="volumes", help="Prune anonymous volumes"),
    ),
)  # fmt: skip


def _system_warning(opts: Any, filters: Filters) -> str:
    warnings = ["all stopped containers", "all networks not used by at least one container"]
    if opts["volumes"]:
        warnings.append("all anonymous volumes not used by at least one container")
    warnings.append("all images without at least one container associated to them"
                    if opts["all"] else "all dangling images")  # fmt: skip
    warnings.append("all build cache" if opts["all"] else "unused build cache")
    text = "WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in warnings)
    shown = sorted(f"{name}={v}" for name in ("label", "label!", "until")
                   for v in filters.get(name, {}))  # fmt: skip
    if shown:
        text += "\n  Items to be pruned will be filtered with:\n"
        text += "".join(f"  - {f}\n" for f in shown)
    return text + "\nAre you sure you want to continue?"


def system_prune(ctx: Context, argv: list[str]) -> int:
    from pier.cli.volume import run_prune

    opts = ctx.parse(SYSTEM_PRUNE, argv)
    filters = parse_filters(opts["filter"])
    if opts["volumes"] and "until" in filters:
        raise StatusError(1, 'ERROR: The "until" filter is not supported with "--volumes"')
    if not opts["force"]:
        confirm(ctx, _system_warning(opts, filters), "system prune")
    total = 0
    steps: list[Callable[[], tuple[int, str]]] = [
        lambda: _prune_containers(ctx, filters),
        lambda: _prune_networks(ctx, filters),
    ]
    if opts["volumes"]:
        steps.append(lambda: run_prune(ctx, filters, all=False))
    steps.append(lambda: _prune_images(ctx, filters, all=opts["all"]))
    steps.append(lambda: _prune_build_cache(ctx, filters, all=opts["all"]))
    for step in steps:
        space, text = step()
        total += space
        if text:
            ctx.out(text + "\n")
    ctx.out(reclaimed(total))
    return 0


def _prune_build_cache(ctx: Context, filters: Filters, *, all: bool) -> tuple[int, str]:
    """The classic builder's cache is its images (pruned above): nothing more, as
    dockerd's answer when no BuildKit cache exists."""
    return 0, ""


DF = Spec(
    max_args=0,
    flags=(FORMAT,
           Flag(name="verbose", short="v", help="Show detailed information on space usage")),
)  # fmt: skip


class _Summary:
    go_type = "*formatter.diskUsageContext"

    def __init__(self, kind: str, total: int, active: int, size: int, reclaimable: int) -> None:
        self.kind, self.total, self.active = kind, total, active
        self.size, self.reclaim = size, reclaimable

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k)() for k in _DF_HEADERS}

    def Type(self) -> str:
        return self.kind

    def TotalCount(self) -> str:
        return str(self.total)

    def Active(self) -> str:
        return str(self.active)

    def Size(self) -> str:
        return _size(self.size)

    def Reclaimable(self) -> str:
        if self.size > 0:
            return f"{_size(self.reclaim)} ({self.reclaim * 100 // self.size}%)"
        return _size(self.reclaim)


_DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
               "Reclaimable": "RECLAIMABLE"}  # fmt: skip
_DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
_ACTIVE = ("running", "paused", "restarting")


def _summaries(du: dict[str, Any]) -> list[_Summary]:
    images = du.get("Images") or []
    layers = int(du.get("LayersSize") or 0)
    used = sum(i["Size"] - i["SharedSize"] for i in images
               if i.get("Containers") and i.get("Size", -1) != -1
               and i.get("SharedSize", -1) != -1)  # fmt: skip
    ctrs = du.get("Containers") or []
    rw = sum(int(c.get("SizeRw") or 0) for c in ctrs)
    idle = sum(int(c.get("SizeRw") or 0) for c in ctrs if c.get("State") not in _ACTIVE)
    vols = [v.get("UsageData") or {"Size": -1, "RefCount": 0} for v in du.get("Volumes") or []]
    vsize = sum(u["Size"] for u in vols if u["Size"] != -1)
    vidle = sum(u["Size"] for u in vols if u["Size"] != -1 and u["RefCount"] == 0)
    cache = du.get("BuildCache") or []
    csize = int(du.get("BuilderSize") or 0)
    cused = sum(int(b.get("Size") or 0) for b in cache if b.get("InUse") and not b.get("Shared"))
    return [
        _Summary("Images", len(images), sum(1 for i in images if i.get("Containers", 0) > 0),
                 layers, layers - used),
        _Summary("Containers", len(ctrs), sum(1 for c in ctrs if c.get("State") in _ACTIVE),
                 rw, idle),
        _Summary("Local Volumes", len(vols), sum(1 for u in vols if u["RefCount"] > 0),
                 vsize, vidle),
        _Summary("Build Cache", len(cache), sum(1 for b in cache if b.get("InUse")), csize,
                 csize - cused),
    ]  # fmt: skip


def df(ctx: Context, argv: list[str]) -> int:
    from pier.cli import formatter

    opts = ctx.parse(DF, argv)
    try:
        du = ctx.client.get_json("/system/df")
    except APIError as exc:
        raise StatusError(1, f"Error response from daemon: {exc.message}") from None
    fmt = opts["format"] or "table"
    if opts["verbose"] and fmt == "table":
        ctx.out(_verbose(du))
        return 0
    chosen = _DF_TABLE if fmt == "table" else fmt
    ctx.out(formatter.render(chosen, _summaries(du), _DF_HEADERS, _Summary.go_type))
    return 0


def _verbose(du: dict[str, Any]) -> str:
    """docker system df -v: a table for each kind."""
    from pier.cli import formatter
    from pier.cli.common import familiar
    from pier.cli.volume import HEADERS, VolumeContext

    images = []
    for i in du.get("Images") or []:
        tags = [t for t in i.get("RepoTags") or [] if t != "<none>:<none>"]
        repo, _, tag = familiar(tags[0]).rpartition(":") if tags else ("<none>", "", "<none>")
        images.append(formatter.ImageContext(i, repo, tag, ""))
    image_table = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t"
                   "{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}")  # fmt: skip
    ctr_table = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t"
                 "{{.RunningFor}}\t{{.Status}}\t{{.Names}}")  # fmt: skip
    ctrs = [formatter.ContainerContext({**c, "SizeRootFs": 0}) for c in du.get("Containers") or []]
    vols = [VolumeContext(v) for v in du.get("Volumes") or []]
    out = "Images space usage:\n\n"
    out += formatter.render(image_table, images, formatter.IMAGE_HEADERS,
                            formatter.ImageContext.go_type)  # fmt: skip
    out += "\nContainers space usage:\n\n"
    out += formatter.render(ctr_table, ctrs, formatter.CONTAINER_HEADERS,
                            formatter.ContainerContext.go_type)  # fmt: skip
    out += "\nLocal Volumes space usage:\n\n"
    out += formatter.render("table {{.Name}}\t{{.Links}}\t{{.Size}}", vols, HEADERS,
                            VolumeContext.go_type)  # fmt: skip
    out += f"\nBuild cache usage: {_size(int(du.get('BuilderSize') or 0))}\n\n"
    out += "CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n"
    return out
