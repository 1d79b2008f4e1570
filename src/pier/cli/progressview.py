"""Showing a pull/push/load progress stream: Docker-like per-layer bars on a terminal
(rich, imported only here and only then), plain `id: status` lines otherwise."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

    from pier.client.http import Response


class StreamError(Exception):
    """The stream ended with `errorDetail`: the message, as the daemon wrote it."""


def _messages(resp: Response) -> Any:
    from pier.client import jsonlite

    with resp:
        for line in resp.iter_lines():
            try:
                msg = jsonlite.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict):
                error = msg.get("errorDetail") or (
                    {"message": msg["error"]} if "error" in msg else None
                )
                if error:
                    raise StreamError(str(error.get("message", "")))
                yield msg


def show(resp: Response, out: TextIO, *, quiet: bool = False) -> list[dict[str, Any]]:
    """Print the stream (nothing when quiet); returns every message."""
    if not quiet and out.isatty():
        return _show_terminal(resp, out)
    seen: list[dict[str, Any]] = []
    for msg in _messages(resp):
        seen.append(msg)
        if quiet or msg.get("status") is None:
            if not quiet and msg.get("stream"):
                out.write(str(msg["stream"]))
            continue
        if (msg.get("progressDetail") or {}).get("current") is not None:
            continue  # bars are for terminals only
        ident = msg.get("id")
        out.write(f"{ident}: {msg['status']}\n" if ident else f"{msg['status']}\n")
        out.flush()
    return seen


def _show_terminal(resp: Response, out: TextIO) -> list[dict[str, Any]]:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    console = Console(file=out, highlight=False)
    header: list[str] = []
    order: list[str] = []
    rows: dict[str, str] = {}
    footer: list[str] = []
    seen: list[dict[str, Any]] = []

    def render() -> Text:
        lines = header + [f"{i}: {rows[i]}" for i in order] + footer
        return Text("\n".join(lines))

    with Live(render(), console=console, refresh_per_second=10, transient=False) as live:
        for msg in _messages(resp):
            seen.append(msg)
            status = msg.get("status")
            if status is None:
                if msg.get("stream"):
                    footer.append(str(msg["stream"]).rstrip("\n"))
                    live.update(render())
                continue
            ident = msg.get("id")
            if not ident:
                (footer if order else header).append(str(status))
            elif not order and not rows and str(status).startswith("Pulling from"):
                header.append(f"{ident}: {status}")
            else:
                if ident not in rows:
                    order.append(ident)
                progress = msg.get("progress")
                rows[ident] = f"{status} {progress}" if progress else str(status)
            live.update(render())
    sys.stdout.flush()
    return seen
