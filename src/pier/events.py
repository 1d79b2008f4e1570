"""The event bus behind GET /events: services publish, subscribers each get a queue.

A bounded history lets `since` replay recent events, as dockerd's in-memory log does.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: str  # container, image, network, volume, daemon
    action: str  # create, start, die, destroy, tag, ...
    actor_id: str
    attributes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    time_nano: int = field(default_factory=time.time_ns)


class EventBus:
    def __init__(self, *, history: int = 1024) -> None:
        self._history: deque[Event] = deque(maxlen=history)
        self._subscribers: set[asyncio.Queue[Event | None]] = set()

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
        for queue in self._subscribers:
            queue.put_nowait(event)

    async def subscribe(
        self, *, since_nano: int | None = None, until_nano: int | None = None
    ) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            if since_nano is not None:
                for event in list(self._history):
                    if event.time_nano >= since_nano and (
                        until_nano is None or event.time_nano <= until_nano
                    ):
                        yield event
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
                yield item
        finally:
            self._subscribers.discard(queue)

    def close(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(None)
