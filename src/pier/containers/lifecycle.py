"""Per-container synchronisation: who may change a container now, who waits for it.

The registry holds, for each container that has any: a lock that serialises the
transitions that touch the runtime (start, restart, removal), the waiters of
`POST /containers/{id}/wait`, an event set whenever no process runs (stop, kill and
log followers wait on it), and the hooks to run between the monitor's create and the
process's start (attach sessions connect their stdin there, so no output is missed).

Waiters follow moby's State.Wait: `not-running` and `next-exit` waiters are woken by
every exit, also one the restart policy will undo; `removed` waiters only by removal,
which wakes every waiter.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from pier.containers.model import Container
from pier.errors import InvalidParameter

CreatedHook = Callable[[Container], Awaitable[None]]


class WaitCondition(StrEnum):
    NOT_RUNNING = "not-running"
    NEXT_EXIT = "next-exit"
    REMOVED = "removed"

    @classmethod
    def parse(cls, text: str | None) -> WaitCondition:
        try:
            return cls(text or cls.NOT_RUNNING)
        except ValueError:
            raise InvalidParameter(f"invalid condition: {text!r}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitResult:
    status_code: int
    error: str = ""


@dataclass(slots=True)
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    running: bool = False
    # Made when first asked for: an asyncio.Event (and its deque) per idle container
    # was most of what the registry kept for it.
    stopped: asyncio.Event | None = None

    def stopped_event(self) -> asyncio.Event:
        if self.stopped is None:
            self.stopped = asyncio.Event()
            if not self.running:
                self.stopped.set()
        return self.stopped

    def set_running(self, running: bool) -> None:
        self.running = running
        if self.stopped is not None:
            if running:
                self.stopped.clear()
            else:
                self.stopped.set()

    exit_waiters: list[asyncio.Future[WaitResult]] = field(default_factory=list)
    removal_waiters: list[asyncio.Future[WaitResult]] = field(default_factory=list)
    created_hooks: list[CreatedHook] = field(default_factory=list)


class LifecycleRegistry:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def _entry(self, cid: str) -> _Entry:
        entry = self._entries.get(cid)
        if entry is None:
            entry = self._entries[cid] = _Entry()
        return entry

    # -- exclusion -------------------------------------------------------------------

    def lock(self, cid: str) -> asyncio.Lock:
        """Held across a transition that involves the runtime."""
        return self._entry(cid).lock

    # -- process up and down ---------------------------------------------------------

    def started(self, cid: str) -> None:
        self._entry(cid).set_running(True)

    def start_failed(self, cid: str) -> None:
        """A start that made no process."""
        self._entry(cid).set_running(False)

    def stopped_event(self, cid: str) -> asyncio.Event:
        """Set whenever the container has no process (not yet started, exited)."""
        return self._entry(cid).stopped_event()

    async def wait_stopped(self, cid: str, timeout: float | None = None) -> bool:
        """True once no process runs; False if `timeout` passed first."""
        try:
            await asyncio.wait_for(self._entry(cid).stopped_event().wait(), timeout)
        except TimeoutError:
            return False
        return True

    def exited(self, cid: str, result: WaitResult) -> None:
        """The process ended (whatever comes next): wake exit waiters."""
        entry = self._entry(cid)
        waiters, entry.exit_waiters = entry.exit_waiters, []
        _resolve(waiters, result)
        entry.set_running(False)

    def removed(self, cid: str, result: WaitResult) -> None:
        """The container is gone: wake every waiter and forget it."""
        entry = self._entries.pop(cid, None)
        if entry is None:
            return
        _resolve(entry.exit_waiters + entry.removal_waiters, result)
        entry.set_running(False)

    # -- waiters ---------------------------------------------------------------------

    def waiter(self, cid: str, condition: WaitCondition) -> asyncio.Future[WaitResult]:
        fut: asyncio.Future[WaitResult] = asyncio.get_running_loop().create_future()
        entry = self._entry(cid)
        waiters = (
            entry.removal_waiters if condition is WaitCondition.REMOVED else entry.exit_waiters
        )
        waiters.append(fut)
        # A waiter whose client left is dropped now, not kept until the container exits.
        fut.add_done_callback(lambda f: _discard(waiters, f))
        return fut

    def waiting(self, cid: str) -> int:
        """How many waiters `cid` has (exit and removal)."""
        entry = self._entries.get(cid)
        return 0 if entry is None else len(entry.exit_waiters) + len(entry.removal_waiters)

    # -- hooks between the monitor's create and the process's start ------------------

    @contextlib.contextmanager
    def on_created(self, cid: str, hook: CreatedHook) -> Iterator[None]:
        """Run `hook` at each start of `cid` while the context is open."""
        hooks = self._entry(cid).created_hooks
        hooks.append(hook)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):
                hooks.remove(hook)

    async def run_created_hooks(self, record: Container) -> None:
        for hook in list(self._entry(record.id).created_hooks):
            await hook(record)


def _discard(waiters: list[asyncio.Future[WaitResult]], fut: asyncio.Future[WaitResult]) -> None:
    if not fut.cancelled():
        return  # resolved: its list was already handed to _resolve
    with contextlib.suppress(ValueError):
        waiters.remove(fut)


def _resolve(waiters: list[asyncio.Future[WaitResult]], result: WaitResult) -> None:
    for fut in waiters:
        if not fut.done():
            fut.set_result(result)
