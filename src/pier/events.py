"""The event bus behind GET /events: services publish, subscribers each get a queue.

A bounded history lets `since`/`until` replay recent events, as dockerd's in-memory
log of 256 does; Pier keeps its history in pier.db too (`EventJournal`), so a replay
after a daemon restart still finds what happened before it. Each subscriber has an
unbounded queue: a slow reader costs memory, never an event (dockerd drops events a
reader has not taken within 100 ms).

`EventFilter` is moby's `daemon/events.Filter`: the `type`, `event`, `container`,
`image`, `label`, `network`, `volume`, `daemon`, `scope` keys, with its quirks (a name
filter of one type applies to every event's actor; `health_status`, `exec_create` and
`exec_start` match as prefixes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from pier.errors import PierError
from pier.metadata import Database
from pier.oci.reference import Reference, parse_normalized

log = logging.getLogger(__name__)

HISTORY = 1024  # events kept for since/until (dockerd keeps 256, in memory only)
# Events are written to the journal at most this often, in one transaction: a burst of
# exec events (health checks) costs one write, not one per event. What a crash loses is
# the last half second of history, never a live subscriber's event.
FLUSH_DELAY = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: str  # container, image, network, volume, daemon
    action: str  # create, start, die, destroy, tag, ...
    actor_id: str
    attributes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    time_nano: int = field(default_factory=time.time_ns)
    scope: str = "local"


class EventJournal(Protocol):
    """Where the bounded history survives a restart; blocking calls (a thread's)."""

    def load(self, limit: int) -> list[Event]:
        """The last `limit` events, oldest first."""
        ...

    def append(self, events: Sequence[Event], keep: int) -> None:
        """Record `events` and forget all but the last `keep`."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL
);
"""


class SqliteEventJournal:
    def __init__(self, db: Database) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)
        first = db.query("SELECT MIN(seq) AS s FROM events")
        self._trimmed = int((first[0]["s"] or 1) - 1) if first else 0

    def load(self, limit: int) -> list[Event]:
        rows = self._db.query("SELECT body FROM events ORDER BY seq DESC LIMIT ?", (limit,))
        out = []
        for row in reversed(rows):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                out.append(_decode(row["body"]))
        return out

    def append(self, events: Sequence[Event], keep: int) -> None:
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT INTO events (body) VALUES (?)", [(_encode(e),) for e in events]
            )
            last = conn.execute("SELECT MAX(seq) FROM events").fetchone()[0] or 0
            # Trimmed in steps of a quarter of the history, not at every write.
            if last - self._trimmed > keep + keep // 4:
                conn.execute("DELETE FROM events WHERE seq <= ?", (last - keep,))
                self._trimmed = last - keep


def _encode(e: Event) -> str:
    return json.dumps(
        {
            "type": e.type,
            "action": e.action,
            "id": e.actor_id,
            "attrs": dict(e.attributes),
            "time": e.time_nano,
            "scope": e.scope,
        }
    )


def _decode(body: str) -> Event:
    raw = json.loads(body)
    return Event(
        type=str(raw["type"]),
        action=str(raw["action"]),
        actor_id=str(raw["id"]),
        attributes=MappingProxyType({str(k): str(v) for k, v in raw["attrs"].items()}),
        time_nano=int(raw["time"]),
        scope=str(raw.get("scope", "local")),
    )


class EventFilter:
    """moby's events.Filter over the API's `filters` ({key: [values]})."""

    def __init__(self, filters: Mapping[str, Iterable[str]] | None = None) -> None:
        self._f = {k: frozenset(v) for k, v in (filters or {}).items() if v}

    def __bool__(self) -> bool:
        return bool(self._f)

    def _exact(self, key: str, value: str) -> bool:
        wanted = self._f.get(key)
        return not wanted or value in wanted

    def _fuzzy(self, key: str, value: str) -> bool:
        wanted = self._f.get(key)
        return not wanted or value in wanted or any(value.startswith(w) for w in wanted)

    def _name(self, key: str, e: Event) -> bool:
        return self._fuzzy(key, e.actor_id) or self._fuzzy(key, e.attributes.get("name", ""))

    def _image(self, e: Event) -> bool:
        if "image" not in self._f:
            return True
        name = e.attributes.get("name" if e.type == "image" else "image", "")
        candidates = {e.actor_id, name, _strip_tag(e.actor_id), _strip_tag(name)}
        return any(self._exact("image", c) for c in candidates)

    def _labels(self, attributes: Mapping[str, str]) -> bool:
        wanted = self._f.get("label")
        if not wanted:
            return True
        if not attributes:
            return False
        for item in wanted:
            key, eq, value = item.partition("=")
            if key not in attributes or (eq and attributes[key] != value):
                return False
        return True

    def includes(self, e: Event) -> bool:
        fuzzy_event = self._f.get("event", frozenset()) & {
            "health_status",
            "exec_create",
            "exec_start",
        }
        event_ok = self._fuzzy("event", e.action) if fuzzy_event else self._exact("event", e.action)
        return (
            event_ok
            and self._exact("type", e.type)
            and self._exact("scope", e.scope)
            and all(
                self._name(k, e)
                for k in ("daemon", "container", "plugin", "volume", "network", "service", "node")
            )
            and self._image(e)
            and self._labels(e.attributes)
        )


def _strip_tag(image: str) -> str:
    """moby's FamiliarName: `docker.io/library/busybox:latest` -> `busybox`."""
    if not image:
        return image
    try:
        ref = parse_normalized(image)
    except PierError:  # an unparsable name is compared as it is
        return image
    return Reference(domain=ref.domain, path=ref.path).familiar()


class EventBus:
    def __init__(self, *, history: int = HISTORY, journal: EventJournal | None = None) -> None:
        self._limit = history
        self._journal = journal
        self._history: deque[Event] = deque(maxlen=history)
        if journal is not None:
            try:
                self._history.extend(journal.load(history))
            except Exception:  # a damaged history must not keep the daemon down
                log.exception("cannot read the event history")
        # Each live stream's queue and filter: an event reaches only the queues that
        # want it, so a stream wakes only for its own events (health probes publish
        # three exec events a second per container).
        self._subscribers: dict[asyncio.Queue[Event | None], EventFilter] = {}
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-journal")
        self._flush: Future[None] | None = None
        self._closing = threading.Event()
        self.published = 0  # events since the daemon started (metrics)

    @property
    def listeners(self) -> int:
        return len(self._subscribers)

    def publish(
        self, type: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None
    ) -> None:
        event = Event(
            type=type,
            action=action,
            actor_id=actor_id,
            attributes=MappingProxyType(dict(attributes or {})),
        )
        self._history.append(event)
        self.published += 1
        for queue, wanted in self._subscribers.items():
            if wanted.includes(event):
                queue.put_nowait(event)
        if self._journal is not None:
            with self._lock:
                self._pending.append(event)
                if self._flush is None:
                    self._flush = self._writer.submit(self._write)

    def _write(self) -> None:
        """Write what is pending in one transaction (one per burst of events)."""
        self._closing.wait(FLUSH_DELAY)  # gathers a burst; closing writes at once
        with self._lock:
            batch, self._pending = self._pending, []
            self._flush = None
        if batch and self._journal is not None:
            try:
                self._journal.append(batch, self._limit)
            except Exception:
                log.exception("cannot record %d events", len(batch))

    async def subscribe(
        self,
        *,
        since_nano: int | None = None,
        until_nano: int | None = None,
        filter: EventFilter | None = None,
    ) -> AsyncGenerator[Event, None]:
        """dockerd's stream: with `since` or `until`, the matching history first; with
        an `until` already past, only that; otherwise live events until `until`."""
        wanted = filter or EventFilter()
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers[queue] = wanted
        try:
            replay: list[Event] = []
            if since_nano is not None or until_nano is not None:
                replay = [
                    e
                    for e in self._history
                    if e.time_nano >= (since_nano or 0)
                    and (until_nano is None or e.time_nano <= until_nano)
                ]
            for event in replay:
                if wanted.includes(event):
                    yield event
            if until_nano is not None and until_nano < time.time_ns():
                return
            while True:
                if until_nano is not None:
                    remaining = (until_nano - time.time_ns()) / 1e9
                    if remaining <= 0:
                        return
                    try:
                        item = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        return
                else:
                    item = await queue.get()
                if item is None:
                    return
                yield item  # filtered when published
        finally:
            self._subscribers.pop(queue, None)

    def close(self) -> None:
        """End every stream and write what is pending."""
        for queue in self._subscribers:
            queue.put_nowait(None)
        self._closing.set()
        self._writer.shutdown(wait=True)
        self._write()
