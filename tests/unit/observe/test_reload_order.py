"""Two reloads in a row (two SIGHUPs) apply their files in order: the second does not
read and apply the newer file while the first, which read the older one, still waits
(here in its labels, as a swarm node's record write would), to then put the older
labels back over the newer. moby's Reload holds its configReload lock throughout."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pier.daemon.reload import reload
from pier.events import EventBus


class _Labels:
    """The daemon's labels; the first change waits until the test lets it finish."""

    def __init__(self) -> None:
        self.labels: tuple[str, ...] = ()
        self.first_entered = asyncio.Event()
        self.release_first = asyncio.Event()
        self.second_entered = asyncio.Event()
        self.calls = 0

    async def relabel(self, labels: tuple[str, ...]) -> None:
        self.calls += 1
        if self.calls == 1:
            self.first_entered.set()
            await self.release_first.wait()
        else:
            self.second_entered.set()
        self.labels = labels


class _Registries:
    def reconfigure(
        self, *, insecure_registries: tuple[str, ...], mirrors: tuple[str, ...]
    ) -> None:
        pass


class _NotedLock(asyncio.Lock):
    """Says when a second reload asks for it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0
        self.second_asked = asyncio.Event()

    async def acquire(self) -> bool:
        self.asked += 1
        if self.asked == 2:
            self.second_asked.set()
        return await super().acquire()


def test_a_second_reload_waits_for_the_first(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"

    async def main() -> None:
        labels = _Labels()
        lock = _NotedLock()
        events = EventBus()

        def reloading() -> asyncio.Task[bool]:
            return asyncio.create_task(
                reload(
                    path,
                    daemon_id="d",
                    default_runtime="runc",
                    log_level="info",
                    registries=_Registries(),
                    events=events,
                    labels=labels,
                    lock=lock,
                )
            )

        path.write_text(json.dumps({"labels": ["v=1"]}))
        first = reloading()
        await asyncio.wait_for(labels.first_entered.wait(), 30)
        path.write_text(json.dumps({"labels": ["v=2"]}))
        second = reloading()
        # The second either waits for the lock or (without one) applies the new file.
        waits = [
            asyncio.create_task(lock.second_asked.wait()),
            asyncio.create_task(labels.second_entered.wait()),
        ]
        await asyncio.wait(waits, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        labels.release_first.set()
        assert await asyncio.wait_for(asyncio.gather(first, second), 30) == [True, True]
        assert labels.labels == ("v=2",)

    asyncio.run(main())
