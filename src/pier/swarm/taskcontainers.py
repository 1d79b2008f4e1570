"""Task containers through the node's own container service: the same create and
start path (and checks) as `docker run`, found again by their swarm labels."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pier.containers.model import Container
from pier.errors import NoSuchContainer, NotModified, PierError
from pier.events import Event, EventFilter

TASK_LABEL = "com.docker.swarm.task.id"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskContainer:
    id: str
    task_id: str
    running: bool
    pid: int
    exit_code: int


class Containers(Protocol):
    def newest_first(self) -> list[Container]: ...
    async def start(self, ref: str) -> None: ...
    async def stop(
        self, ref: str, *, timeout: int | None = None, signal: str | None = None
    ) -> None: ...
    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None: ...
    def get(self, ref: str) -> Container: ...


class EventSource(Protocol):
    def subscribe(
        self,
        *,
        since_nano: int | None = None,
        until_nano: int | None = None,
        filter: EventFilter | None = None,
    ) -> AsyncIterator[Event]: ...


CreateFromBody = Callable[[str, Mapping[str, Any]], Awaitable[str]]
# (container port, protocol) -> (host port, container address)
PublishedPorts = Callable[[str], Mapping[tuple[int, str], tuple[int, str]]]


class TaskContainers:
    def __init__(
        self,
        *,
        containers: Containers,
        events: EventSource,
        create: CreateFromBody,
        published: PublishedPorts,
    ) -> None:
        self._containers = containers
        self._events = events
        self._create = create
        self._published = published

    def by_task(self) -> dict[str, TaskContainer]:
        found = {}
        for c in self._containers.newest_first():
            task = c.config.labels.get(TASK_LABEL)
            if task and not c.state.removing:
                found[task] = TaskContainer(
                    id=c.id,
                    task_id=task,
                    running=c.state.has_process,
                    pid=c.state.pid,
                    exit_code=c.state.exit_code,
                )
        return found

    async def create(self, name: str, body: Mapping[str, Any]) -> str:
        return await self._create(name, body)

    async def start(self, cid: str) -> TaskContainer:
        await self._containers.start(cid)
        c = self._containers.get(cid)
        return TaskContainer(
            id=c.id,
            task_id=c.config.labels.get(TASK_LABEL, ""),
            running=c.state.has_process,
            pid=c.state.pid,
            exit_code=c.state.exit_code,
        )

    def published(self, cid: str) -> Mapping[tuple[int, str], tuple[int, str]]:
        return self._published(cid)

    async def stop(self, cid: str, grace: int) -> None:
        with contextlib.suppress(NoSuchContainer, NotModified):
            await self._containers.stop(cid, timeout=grace)

    async def stop_and_remove(self, cid: str, grace: int) -> None:
        await self.stop(cid, grace)
        with contextlib.suppress(NoSuchContainer):
            try:
                await self._containers.remove(cid, force=True)
            except PierError:
                await self._containers.remove(cid, force=True)  # a removal racing an exit

    async def exits(self) -> AsyncIterator[tuple[str, int]]:
        """(task ID, exit code) each time a task container's process ends."""
        wanted = EventFilter({"type": ["container"], "event": ["die"], "label": [TASK_LABEL]})
        async for event in self._events.subscribe(filter=wanted):
            task = event.attributes.get(TASK_LABEL)
            if task:
                yield task, int(event.attributes.get("exitCode", "0") or 0)
