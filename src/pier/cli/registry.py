"""`pier registry serve|gc`: Pier's own OCI distribution registry. The CLI checks the
flags and then becomes the server process (exec of `pier.distribution.server.main`):
the client side never imports server code."""

from __future__ import annotations

import os
import sys

from pier.cli.flags import BOOL, STRING, Flag, Spec
from pier.cli.main import Context, StatusError

SERVE = Spec(
    max_args=0,
    flags=(
        Flag(name="addr", kind=STRING, default="127.0.0.1:5000",
             help="Address to listen on (host:port)"),
        Flag(name="root", kind=STRING, default="/var/lib/pier-registry",
             help="Directory the registry stores its content in"),
        Flag(name="htpasswd", kind=STRING,
             help="Require basic auth from this htpasswd file (bcrypt)"),
        Flag(name="tls-cert", kind=STRING, help="Serve TLS with this certificate"),
        Flag(name="tls-key", kind=STRING, help="Key of the TLS certificate"),
        Flag(name="read-only", kind=BOOL, help="Refuse pushes and deletes"),
    ),
)  # fmt: skip


def _exec(args: list[str]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "pier.distribution.server.main", *args])
    return 1  # not reached


def serve(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(SERVE, argv)
    addr = str(opts["addr"])
    if not addr.rpartition(":")[2].isdigit():
        raise StatusError(1, f"invalid --addr {addr!r}: want host:port")
    if bool(opts["tls-cert"]) != bool(opts["tls-key"]):
        raise StatusError(1, "--tls-cert and --tls-key go together")
    args = ["serve", "--addr", addr, "--root", str(opts["root"])]
    for flag in ("htpasswd", "tls-cert", "tls-key"):
        if opts[flag]:
            args += [f"--{flag}", str(opts[flag])]
    if opts["read-only"]:
        args.append("--read-only")
    return _exec(args)


GC = Spec(
    max_args=0,
    flags=(
        Flag(name="root", kind=STRING, default="/var/lib/pier-registry",
             help="Directory the registry stores its content in"),
        Flag(name="dry-run", short="d", kind=BOOL, help="Only print what would be removed"),
    ),
)  # fmt: skip


def gc(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(GC, argv)
    args = ["gc", "--root", str(opts["root"])]
    if opts["dry-run"]:
        args.append("--dry-run")
    return _exec(args)
