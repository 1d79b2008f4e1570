"""Container events, published once the change they announce is on disk."""

from __future__ import annotations

from pier.containers.model import Container
from pier.containers.store import ContainerStore
from pier.events import EventBus


def event_attrs(record: Container) -> dict[str, str]:
    """Actor.Attributes as dockerd fills them: image, name and the labels."""
    attrs = {"image": record.config.image, "name": record.name}
    attrs.update(record.config.labels)
    return attrs


class Announcer:
    def __init__(self, *, store: ContainerStore, events: EventBus) -> None:
        self._store = store
        self._events = events

    async def __call__(self, action: str, record: Container, **extra: str) -> None:
        """A client that saw the event, or the reply that comes after it, can count on
        the change surviving a crash."""
        await self._store.synced()
        self._events.publish("container", action, record.id, {**event_attrs(record), **extra})
