"""`pier pull` and `pier push`: the daemon does the transfer; the CLI sends the stored
credentials of the registry (`X-Registry-Auth`, as docker) and shows the progress."""

from __future__ import annotations

import sys

from pier.cli.common import split_tag
from pier.cli.flags import BOOL, STRING, Flag, Spec
from pier.cli.main import Context, StatusError

PULL = Spec(
    min_args=1,
    max_args=1,
    flags=(
        Flag(name="all-tags", short="a", kind=BOOL,
             help="Download all tagged images in the repository"),
        Flag(name="platform", kind=STRING, help="Set platform if server is multi-platform capable"),
        Flag(name="quiet", short="q", kind=BOOL, help="Suppress verbose output"),
    ),
)  # fmt: skip


def _auth_header(image: str) -> dict[str, str]:
    from pier.cli import dockerconfig

    try:
        auth = dockerconfig.get(dockerconfig.registry_of(image))
    except dockerconfig.CredentialsError as exc:
        raise StatusError(1, str(exc)) from None
    return {"X-Registry-Auth": dockerconfig.encode_header(auth)}


def _run(ctx: Context, method: str, path: str, params: dict[str, object], image: str,
         quiet: bool) -> list[dict[str, object]]:  # fmt: skip
    from pier.cli.progressview import StreamError, show
    from pier.client.errors import APIError

    try:
        resp = ctx.client.request(method, path, params=params, headers=_auth_header(image))
        return show(resp, sys.stdout, quiet=quiet)
    except (APIError, StreamError) as exc:
        raise StatusError(1, f"Error response from daemon: {exc}") from None


def pull(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(PULL, argv)
    image = opts.args[0]
    if "@" in image:
        name, tag = image.split("@", 1)
    else:
        name, tag = split_tag(image)
        if opts["all-tags"]:
            if tag:
                raise StatusError(1, "tag can't be used with --all-tags/-a")
        elif not tag:
            tag = "latest"
            if not opts["quiet"]:
                ctx.out("Using default tag: latest\n")
    params: dict[str, object] = {"fromImage": name, "tag": tag or None,
                                 "platform": opts["platform"] or None}  # fmt: skip
    _run(ctx, "POST", "/images/create", params, name, bool(opts["quiet"]))
    # The docker CLI ends every pull (quiet or not) with the reference it pulled.
    ctx.out(f"{_full(name)}{'@' if '@' in image else ':'}{tag}\n" if tag else f"{_full(name)}\n")
    return 0


def _full(name: str) -> str:
    from pier.cli.common import full_name

    return full_name(name)


PUSH = Spec(
    min_args=1,
    max_args=1,
    flags=(
        Flag(name="all-tags", short="a", kind=BOOL,
             help="Push all tags of an image to the repository"),
        Flag(name="platform", kind=STRING,
             help="Push a platform-specific manifest as a single-platform image"),
        Flag(name="quiet", short="q", kind=BOOL, help="Suppress verbose output"),
    ),
)  # fmt: skip


def push(ctx: Context, argv: list[str]) -> int:
    from pier.cli.common import image_path

    opts = ctx.parse(PUSH, argv)
    image = opts.args[0]
    name, tag = split_tag(image)
    if opts["all-tags"]:
        if tag:
            raise StatusError(1, "tag can't be used with --all-tags/-a")
    elif not tag:
        tag = "latest"
        if not opts["quiet"]:
            ctx.out("Using default tag: latest\n")
    params: dict[str, object] = {"tag": tag or None}
    _run(ctx, "POST", image_path(name, "push"), params, name, bool(opts["quiet"]))
    if opts["quiet"]:
        ctx.out(f"{_full(name)}:{tag}\n" if tag else f"{_full(name)}\n")
    return 0
