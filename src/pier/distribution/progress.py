"""Docker's JSON progress messages (`pkg/jsonmessage`), produced by pull, push and load.

A `Progress` is handed to an operation; it may be called from worker threads (layer
unpacking reports from the ingest's pool), so `QueueProgress` hops onto its event loop
before touching the queue the API router drains.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

# moby's progress reader reports every 512 KiB at most; a terminal is drawn ~10 times/s.
UPDATE_BYTES = 512 << 10
UPDATE_SECONDS = 0.1
_BAR_WIDTH = 50


class Progress(Protocol):
    def message(self, ident: str, status: str) -> None:
        """`{"status": status, "id": ident}` (no id when empty)."""
        ...

    def update(self, ident: str, status: str, current: int, total: int) -> None:
        """A progress-bar update for one layer."""
        ...

    def aux(self, body: Mapping[str, Any]) -> None: ...


class Silent:
    def message(self, ident: str, status: str) -> None:
        return None

    def update(self, ident: str, status: str, current: int, total: int) -> None:
        return None

    def aux(self, body: Mapping[str, Any]) -> None:
        return None


def human_size(size: float) -> str:
    """go-units HumanSize: decimal units, 3 significant digits (`1.23MB`)."""
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.3g}{units[i]}"


def bar(current: int, total: int) -> str:
    """Docker's JSONProgress.String for a wide terminal: `[==>   ]  1.2MB/3.4MB`."""
    if total <= 0:
        return f"{human_size(current):>8}"
    filled = min(_BAR_WIDTH, int(_BAR_WIDTH * current / total))
    arrow = ">" if filled < _BAR_WIDTH else ""
    fill = "=" * (filled - 1 if arrow else filled) + arrow
    return f"[{fill:<{_BAR_WIDTH}}] {human_size(current):>8}/{human_size(total)}"


class QueueProgress:
    """Collects messages into an asyncio.Queue (None marks the end), from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.get_ident()
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._last: dict[str, tuple[int, float]] = {}

    def _put(self, msg: dict[str, Any] | None) -> None:
        if threading.get_ident() == self._thread:
            self.queue.put_nowait(msg)
        else:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, msg)

    def message(self, ident: str, status: str) -> None:
        msg: dict[str, Any] = {"status": status}
        if ident:
            msg["id"] = ident
        self._put(msg)

    def update(self, ident: str, status: str, current: int, total: int) -> None:
        last_bytes, last_time = self._last.get(ident + status, (-UPDATE_BYTES, 0.0))
        now = time.monotonic()
        if current < total and (
            current - last_bytes < UPDATE_BYTES or now - last_time < UPDATE_SECONDS
        ):
            return
        self._last[ident + status] = (current, now)
        detail: dict[str, int] = {"current": current}
        if total > 0:
            detail["total"] = total
        self._put(
            {
                "status": status,
                "progressDetail": detail,
                "progress": bar(current, total),
                "id": ident,
            }
        )

    def aux(self, body: Mapping[str, Any]) -> None:
        self._put({"progressDetail": {}, "aux": dict(body)})

    def close(self) -> None:
        self._put(None)
