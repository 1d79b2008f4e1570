"""The registry server's process entry (`pier registry serve|gc` exec this module, as
`pier` never imports server code): `python -m pier.distribution.server.main serve
--addr A --root R [--htpasswd F] [--tls-cert C --tls-key K] [--read-only]` or
`... gc --root R [--dry-run]`. Arguments arrive checked by the CLI."""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
from pathlib import Path

from aiohttp import web

from pier.distribution.server.app import build_app
from pier.distribution.server.gc import collect
from pier.distribution.server.storage import Storage


async def serve(args: argparse.Namespace) -> None:
    host, _, port = args.addr.rpartition(":")
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    app = build_app(
        Path(args.root),
        htpasswd=Path(args.htpasswd) if args.htpasswd else None,
        read_only=args.read_only,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]") or "127.0.0.1", int(port), ssl_context=context)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sys.stderr.write(f"pier registry listening on {args.addr}\n")
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pier registry")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--addr", default="127.0.0.1:5000")
    s.add_argument("--root", required=True)
    s.add_argument("--htpasswd")
    s.add_argument("--tls-cert")
    s.add_argument("--tls-key")
    s.add_argument("--read-only", action="store_true")
    g = sub.add_parser("gc")
    g.add_argument("--root", required=True)
    g.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve(args))
        return 0
    result = collect(Storage(Path(args.root)), dry_run=args.dry_run)
    for digest in result.removed:
        verb = "blob eligible for deletion" if args.dry_run else "deleted"
        sys.stdout.write(f"{verb}: {digest}\n")
    sys.stdout.write(
        f"{result.kept} blobs marked, {len(result.removed)} blobs eligible for deletion\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
