"""The event bus: moby's filter rules, since/until replay, the persisted history."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pier.events import Event, EventBus, EventFilter, SqliteEventJournal
from pier.metadata import Database


def _event(
    type: str = "container", action: str = "start", actor: str = "abc123", **attrs: str
) -> Event:
    return Event(type=type, action=action, actor_id=actor, attributes=attrs)


@pytest.mark.parametrize(
    ("filters", "event", "included"),
    [
        ({}, _event(), True),
        ({"type": ["container"]}, _event(), True),
        ({"type": ["image"]}, _event(), False),
        ({"event": ["start"]}, _event(), True),
        ({"event": ["stop"]}, _event(), False),
        ({"event": ["health_status"]}, _event(action="health_status: healthy"), True),
        ({"event": ["exec_start"]}, _event(action="exec_start: sh -c true"), True),
        ({"event": ["exec_die"]}, _event(action="exec_die"), True),
        ({"container": ["abc"]}, _event(), True),
        ({"container": ["web"]}, _event(name="web1"), True),
        ({"container": ["db"]}, _event(name="web1"), False),
        # moby applies a name filter to every event's actor, whatever its type.
        ({"container": ["zzz"]}, _event(type="image", actor="sha256:1"), False),
        ({"image": ["busybox"]}, _event(image="busybox:latest"), True),
        ({"image": ["busybox:latest"]}, _event(image="busybox:latest"), True),
        ({"image": ["alpine"]}, _event(image="busybox"), False),
        ({"image": ["busybox"]}, _event(type="image", actor="sha256:1", name="busybox:1"), True),
        ({"label": ["a"]}, _event(a="1"), True),
        ({"label": ["a=1"]}, _event(a="1"), True),
        ({"label": ["a=2"]}, _event(a="1"), False),
        ({"label": ["a"]}, _event(), False),
        ({"network": ["net1"]}, _event(type="network", actor="n1", name="net1"), True),
        ({"volume": ["v"]}, _event(type="volume", actor="data", driver="local"), False),
        ({"daemon": ["d1"]}, _event(type="daemon", actor="d1"), True),
        ({"scope": ["local"]}, _event(), True),
        ({"scope": ["swarm"]}, _event(), False),
    ],
    ids=lambda v: str(v) if isinstance(v, dict | bool) else "",
)
def test_filter(filters: dict[str, list[str]], event: Event, included: bool) -> None:
    assert EventFilter(filters).includes(event) is included


async def _collect(bus: EventBus, **kw: object) -> list[Event]:
    return [e async for e in bus.subscribe(**kw)]  # type: ignore[arg-type]


def test_since_and_until_replay_the_history() -> None:
    async def main() -> None:
        bus = EventBus(history=10)
        for i in range(15):
            bus.publish("container", f"a{i}", "c")
        now = time.time_ns()
        got = await _collect(bus, since_nano=0, until_nano=now)
        assert [e.action for e in got] == [f"a{i}" for i in range(5, 15)]
        middle = list(bus._history)[3].time_nano
        got = await _collect(bus, since_nano=middle, until_nano=now)
        assert got[0].action == "a8"
        got = await _collect(
            bus, since_nano=0, until_nano=now, filter=EventFilter({"event": ["a14"]})
        )
        assert [e.action for e in got] == ["a14"]

    asyncio.run(main())


def test_until_in_the_future_streams_then_ends() -> None:
    async def main() -> None:
        bus = EventBus()
        until = time.time_ns() + 300_000_000
        task = asyncio.ensure_future(_collect(bus, until_nano=until))
        await asyncio.sleep(0)  # the subscriber is registered at its first step
        bus.publish("container", "live", "c")
        got = await asyncio.wait_for(task, 5)
        assert [e.action for e in got] == ["live"]

    asyncio.run(main())


def test_history_survives_a_new_bus(tmp_path: Path) -> None:
    db = Database(tmp_path / "pier.db")
    bus = EventBus(history=5, journal=SqliteEventJournal(db))
    for i in range(8):
        bus.publish("container", f"a{i}", "c", {"name": "x"})
    bus.close()
    again = EventBus(history=5, journal=SqliteEventJournal(db))
    assert [e.action for e in again._history] == [f"a{i}" for i in range(3, 8)]
    assert again._history[-1].attributes == {"name": "x"}
    assert len(db.query("SELECT seq FROM events")) == 5
    again.close()
    db.close()


def test_no_event_lost_by_a_slow_reader() -> None:
    async def main() -> None:
        bus = EventBus()
        received: list[Event] = []

        async def read() -> None:
            async for e in bus.subscribe():
                received.append(e)
                await asyncio.sleep(0)

        task = asyncio.ensure_future(read())
        await asyncio.sleep(0)
        for i in range(5000):
            bus.publish("container", "start", str(i))
        bus.close()
        await asyncio.wait_for(task, 10)
        assert [e.actor_id for e in received] == [str(i) for i in range(5000)]

    asyncio.run(main())
