"""Image commands: images (image ls), image inspect, import, tag, rmi, history."""

from __future__ import annotations

import os
import sys

from pier.cli.common import (
    for_each,
    image_path,
    inspect_raw,
    parse_filters,
    print_inspect,
    show_progress,
    split_tag,
)
from pier.cli.flags import BOOL, FORMAT, FORMAT_F, LIST, STRING, Flag, Spec
from pier.cli.main import Context, StatusError

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


IMAGES = Spec(
    max_args=1,
    flags=(
        Flag(name="all", short="a", help="Show all images (default hides intermediate images)"),
        Flag(name="digests", help="Show digests"),
        Flag(name="filter", short="f", kind=LIST, type_name="filter",
             help="Filter output based on conditions provided"),
        FORMAT,
        Flag(name="no-trunc", help="Don't truncate output"),
        Flag(name="quiet", short="q", help="Only show image IDs"),
    ),
)  # fmt: skip


def images(ctx: Context, argv: list[str]) -> int:
    from pier.cli import formatter

    opts = ctx.parse(IMAGES, argv)
    filters = parse_filters(opts["filter"]) if opts["filter"] else {}
    if opts.args:
        filters.setdefault("reference", {})[opts.args[0]] = True
    params: dict[str, Any] = {"all": opts["all"] or None, "filters": filters or None}
    items = ctx.client.get_json("/images/json", **params)
    trunc = not opts["no-trunc"]
    if opts["quiet"]:
        seen: set[str] = set()
        lines = []
        for img in items:
            ident = str(img.get("Id", ""))
            ident = formatter.short_id(ident) if trunc else ident
            if ident not in seen:
                seen.add(ident)
                lines.append(ident + "\n")
        ctx.out("".join(lines))
        return 0
    table = formatter.IMAGES_DIGEST_TABLE if opts["digests"] else formatter.IMAGES_TABLE
    fmt = formatter.chosen(opts["format"] or "", table)
    rows = formatter.image_rows(items, digests=opts["digests"] or ".Digest" in fmt, trunc=trunc)
    ctx.out(formatter.render(fmt, rows, formatter.IMAGE_HEADERS, "*formatter.ImageContext"))
    return 0


IMAGE_INSPECT = Spec(
    min_args=1,
    flags=(FORMAT_F,),
)


def image_inspect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(IMAGE_INSPECT, argv)

    def fetch(name: str) -> str:
        return inspect_raw(ctx, "image", name)

    return print_inspect(ctx, opts.args, opts["format"], fetch)


IMPORT = Spec(
    min_args=1,
    max_args=2,
    flags=(
        Flag(name="change", short="c", kind=LIST,
             help="Apply Dockerfile instruction to the created image"),
        Flag(name="message", short="m", kind=STRING,
             help="Set commit message for imported image"),
        Flag(name="platform", kind=STRING, help="Set platform if server is multi-platform capable"),
    ),
)  # fmt: skip


def _read_file(fd: int) -> Iterator[bytes]:
    while True:
        data = os.read(fd, 1 << 20)
        if not data:
            return
        yield data


def import_(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(IMPORT, argv)
    source = opts.args[0]
    ref = opts.args[1] if len(opts.args) > 1 else ""
    params: dict[str, Any] = {"fromSrc": "-", "repo": ref or None, "tag": None,
                              "message": opts["message"] or None,
                              "platform": opts["platform"] or None}  # fmt: skip
    if opts["change"]:
        params["changes"] = tuple(opts["change"])
    body: Any = None
    fd = -1
    if source == "-":
        body = _read_file(0)
    elif "://" in source:
        params["fromSrc"] = source
    else:
        try:
            fd = os.open(source, os.O_RDONLY)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise StatusError(1, f"open {source}: {reason}") from None
        body = _read_file(fd)
    try:
        resp = ctx.client.request(
            "POST", "/images/create", params=params, body=body,
            headers={"Content-Type": "application/x-tar"} if body is not None else None,
        )  # fmt: skip
        show_progress(resp, sys.stdout)
    finally:
        if fd >= 0:
            os.close(fd)
    return 0


TAG = Spec(
    min_args=2,
    max_args=2,
)


def tag(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(TAG, argv)
    source, target = opts.args
    repo, tag_name = split_tag(target)
    if "@" in target:
        raise StatusError(1, "Error response from daemon: refusing to create a tag with a digest "
                          "reference")  # fmt: skip
    ctx.client.post(image_path(source, "tag"), repo=repo, tag=tag_name or "latest")
    return 0


RMI = Spec(
    min_args=1,
    flags=(
        Flag(name="force", short="f", help="Force removal of the image"),
        Flag(name="no-prune", help="Do not delete untagged parents"),
    ),
)


def rmi(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(RMI, argv)
    params = {"force": opts["force"] or None, "noprune": opts["no-prune"] or None}

    def act(name: str) -> str | None:
        lines = []
        for item in ctx.client.delete(image_path(name), **params) or []:
            if item.get("Untagged"):
                lines.append(f"Untagged: {item['Untagged']}")
            if item.get("Deleted"):
                lines.append(f"Deleted: {item['Deleted']}")
        return "\n".join(lines) if lines else None

    return for_each(ctx, opts.args, act)


HISTORY = Spec(
    min_args=1,
    max_args=1,
    flags=(
        FORMAT,
        Flag(name="human", short="H", kind=BOOL, default=True,
             help="Print sizes and dates in human readable format"),
        Flag(name="no-trunc", help="Don't truncate output"),
        Flag(name="quiet", short="q", help="Only show image IDs"),
    ),
)  # fmt: skip


def history(ctx: Context, argv: list[str]) -> int:
    from pier.cli import formatter

    opts = ctx.parse(HISTORY, argv)
    items = ctx.client.get_json(image_path(opts.args[0], "history"))
    human = bool(opts["human"])
    table = formatter.HISTORY_TABLE if human else formatter.HISTORY_TABLE_NOHUMAN
    fmt = formatter.chosen(opts["format"] or "", table, quiet=opts["quiet"])
    trunc = not opts["no-trunc"]
    rows = [formatter.HistoryContext(h, trunc=trunc, human=human) for h in items]
    ctx.out(formatter.render(fmt, rows, formatter.HISTORY_HEADERS, "*formatter.historyContext"))
    return 0
