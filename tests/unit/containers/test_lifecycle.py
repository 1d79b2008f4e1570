"""The lifecycle registry's "no process" event, made only when asked for, says the
same as one kept from the start: whenever it is made, and across starts and exits."""

from __future__ import annotations

import asyncio

from pier.containers.lifecycle import LifecycleRegistry, WaitResult


def test_stopped_event_made_late_follows_the_process() -> None:
    async def go() -> None:
        reg = LifecycleRegistry()
        assert reg.stopped_event("new").is_set()  # never started: no process
        reg.started("a")
        late = reg.stopped_event("a")  # made while running
        assert not late.is_set()
        assert not await reg.wait_stopped("a", timeout=0.01)
        reg.exited("a", WaitResult(status_code=0))
        assert late.is_set() and reg.stopped_event("a") is late
        assert await reg.wait_stopped("a", timeout=1)
        reg.started("a")
        assert not late.is_set()
        reg.start_failed("a")
        assert late.is_set()

        reg.started("b")
        reg.exited("b", WaitResult(status_code=1))  # exited before anyone asked
        assert reg.stopped_event("b").is_set()
        reg.started("c")
        reg.removed("c", WaitResult(status_code=0))
        assert reg.stopped_event("c").is_set()  # gone: a fresh entry, no process

    asyncio.run(go())
