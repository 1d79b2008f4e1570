"""`pier save` and `pier load`."""

from __future__ import annotations

import os
import sys

from pier.cli.flags import BOOL, STRING, Flag, Spec
from pier.cli.main import Context, StatusError

SAVE = Spec(
    min_args=1,
    flags=(
        Flag(name="output", short="o", kind=STRING, help="Write to a file, instead of STDOUT"),
        Flag(name="platform", kind=STRING, help="Save only the given platform variant"),
    ),
)  # fmt: skip


def save(ctx: Context, argv: list[str]) -> int:
    from pier.client.errors import APIError

    opts = ctx.parse(SAVE, argv)
    output = opts["output"] or ""
    if not output and os.isatty(1):
        raise StatusError(1, "Cowardly refusing to save to a terminal. Use the -o flag or "
                          "redirect")  # fmt: skip
    try:
        resp = ctx.client.request("GET", "/images/get", params={"names": tuple(opts.args)})
    except APIError as exc:
        raise StatusError(1, f"Error response from daemon: {exc}") from None
    fd = os.open(output + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if output else 1
    try:
        with resp:
            for chunk in resp.iter_chunks():
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
    except BaseException:
        if output:
            os.close(fd)
            os.unlink(output + ".tmp")
        raise
    if output:
        os.close(fd)
        os.replace(output + ".tmp", output)
    return 0


LOAD = Spec(
    max_args=0,
    flags=(
        Flag(name="input", short="i", kind=STRING,
             help="Read from tar archive file, instead of STDIN"),
        Flag(name="quiet", short="q", kind=BOOL, help="Suppress the load output"),
        Flag(name="platform", kind=STRING, help="Load only the given platform variant"),
    ),
)  # fmt: skip


def _chunks(fd: int):  # type: ignore[no-untyped-def]
    while data := os.read(fd, 1 << 20):
        yield data


def load(ctx: Context, argv: list[str]) -> int:
    from pier.cli.progressview import StreamError, show
    from pier.client.errors import APIError

    opts = ctx.parse(LOAD, argv)
    if opts["input"]:
        try:
            fd = os.open(opts["input"], os.O_RDONLY)
        except OSError as exc:
            raise StatusError(1, f"open {opts['input']}: {(exc.strerror or '').lower()}") from None
    else:
        if os.isatty(0):
            raise StatusError(1, "requested load from stdin, but stdin is empty")
        fd = 0
    try:
        resp = ctx.client.request(
            "POST", "/images/load", params={"quiet": "1" if opts["quiet"] else "0"},
            body=_chunks(fd), headers={"Content-Type": "application/x-tar"},
        )  # fmt: skip
        show(resp, sys.stdout, quiet=False)
    except (APIError, StreamError) as exc:
        raise StatusError(1, f"Error response from daemon: {exc}") from None
    finally:
        if fd:
            os.close(fd)
    return 0
