"""etcd's periodic auto-compaction on a supervised member (a short retention): old
revisions go, a read of one is a clear Compacted error, a watch resuming from one
raises WatchCompacted, and a swarm session whose watch is compacted reads the store
again (the heartbeat it missed) and goes on watching."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from etcd_fixtures import short_dir

from pier.cluster import etcdwire as wire
from pier.cluster.etcd import Compacted, Etcd, WatchCompacted
from pier.cluster.member import EtcdMember
from pier.errors import Unavailable
from pier.swarm import docs
from pier.swarm.localstate import LocalState
from pier.swarm.session import Session
from pier.swarm.store import SwarmStore

RETENTION = "2s"


@pytest.fixture
def base() -> Iterator[Path]:
    yield from short_dir()


def _member(base: Path, **options: str) -> EtcdMember:
    return EtcdMember(
        name="one",
        socket_dir=base / "one" / "run",
        data_dir=base / "one" / "etcd" / "data",
        compaction_retention=RETENTION,
        **options,
    )


async def _read_at(etcd: Etcd, key: bytes, revision: int) -> None:
    await etcd.call("/v3/kv/range", {**wire.key_range(key), "revision": str(revision)})


async def _until_compacted(etcd: Etcd, key: bytes, revision: int) -> Compacted:
    """Wait (etcd compacts about every retention) until `revision` is refused."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        try:
            await _read_at(etcd, key, revision)
        except Compacted as exc:
            return exc
        assert loop.time() < deadline, f"revision {revision} still readable"
        await asyncio.sleep(0.1)


def test_old_revisions_are_compacted_and_refused_clearly(base: Path) -> None:
    async def main() -> None:
        m = _member(base)
        await m.start()
        etcd = Etcd(endpoints=[m.client_endpoint])
        try:
            first = await etcd.put(b"/t/k", b"0")
            for i in range(1, 5):
                await etcd.put(b"/t/k", str(i).encode())
            await _read_at(etcd, b"/t/k", first)  # kept for now
            refused = await _until_compacted(etcd, b"/t/k", first)
            assert "required revision has been compacted" in str(refused)
            assert refused.status == 500  # a SystemFailure like etcd's other refusals
            assert (await etcd.get(b"/t/k")).value == b"4"  # type: ignore[union-attr]

            # A watch from a compacted revision says so instead of skipping changes.
            async def watch_from_first() -> None:
                async for _ in etcd.watch(b"/t/", start_revision=first):
                    raise AssertionError("events from a compacted revision")

            with pytest.raises(WatchCompacted, match=f"revision {first} compacted"):
                await asyncio.wait_for(watch_from_first(), 10)
        finally:
            await etcd.close()
            await m.stop()

    asyncio.run(main())


def test_an_idle_watch_resumes_after_its_progress_not_from_a_compacted_start(
    base: Path,
) -> None:
    """Writes elsewhere move the store on while nothing changes under the watched
    prefix; etcd's progress notifications tell the watch so, and a stream broken after
    compaction opens again from there rather than failing as compacted."""

    async def main() -> None:
        m = _member(base, progress_interval="300ms")
        await m.start()
        etcd = Etcd(endpoints=[m.client_endpoint])
        seen: list[bytes] = []
        try:
            start = await etcd.put(b"/other/k", b"0") + 1

            async def follow() -> None:
                async for message in etcd.watch(b"/t/", start_revision=start):
                    seen.extend(e.kv.key for e in message.events)
                    return

            watcher = asyncio.create_task(follow())
            last = start
            for i in range(5):
                last = await etcd.put(b"/other/k", str(i).encode())
            # Compaction reaches `last` (reads below it refused) only a retention (2 s)
            # after it was written: by then progress notifications (every 0.3 s) have
            # told the watch, whose start is long compacted.
            await _until_compacted(etcd, b"/t/", last - 1)
            killed = m.pid
            m.signal(signal.SIGKILL)  # the stream breaks; the member is back in a second
            await _until(lambda: m.pid not in (None, killed), "the member restarted")

            async def written() -> bool:
                with contextlib.suppress(Unavailable):
                    await etcd.put(b"/t/a", b"1")
                    return True
                return False

            await _until(written, "the member answers again")
            await asyncio.wait_for(watcher, 20)  # not WatchCompacted
            assert seen == [b"/t/a"]
        finally:
            await etcd.close()
            await m.stop()

    asyncio.run(main())


class _Idle:
    """A worker that only counts its kicks (the session's agent, orchestrator and
    ingress: this test is about the watch, not about tasks)."""

    def __init__(self) -> None:
        self.kicks = 0

    async def run(self) -> None:
        await asyncio.Event().wait()

    def kick(self) -> None:
        self.kicks += 1

    async def fence(self) -> None:
        pass

    async def leave(self) -> None:
        pass


async def _until(check: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


def test_a_session_whose_watch_is_compacted_reads_the_store_again(
    base: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pier.swarm.session")

    async def main() -> None:
        m = _member(base)
        await m.start()
        writer = Etcd(endpoints=[m.client_endpoint])
        store = SwarmStore(etcd=writer)
        await store.put("cluster", "", {"Spec": {"Dispatcher": {"HeartbeatPeriod": docs.SECOND}}})
        agent = _Idle()
        state = LocalState(
            node_id="n1",
            cluster_id="c1",
            manager=False,
            endpoints=(m.client_endpoint,),
            listen_addr="127.0.0.1:0",
            advertise_addr="127.0.0.1:0",
            own_member=False,
        )
        etcd = Etcd(endpoints=[m.client_endpoint])
        session = Session(
            state=state,
            etcd=etcd,
            member=None,
            agent=lambda _: agent,
            orchestrator=lambda _: _Idle(),
            ingress=lambda _: _Idle(),
        )
        await session.start()
        try:
            # The session's watch sees a change while it is connected (written until
            # seen: the watch opens after start returns)...
            async def seen(period: int) -> bool:
                await store.put(
                    "cluster", "", {"Spec": {"Dispatcher": {"HeartbeatPeriod": period}}}
                )
                return session._heartbeat == period

            await _until(lambda: seen(2 * docs.SECOND), "the watch saw it")
            # ...then loses its member: the stream breaks, and reconnections fail.
            etcd.set_endpoints([f"unix://{base}/gone"])
            killed = m.pid
            m.signal(signal.SIGKILL)  # its supervisor starts it again a second later
            await _until(lambda: m.pid not in (None, killed), "the member restarted")
            missed = 0

            async def write_missed() -> bool:
                nonlocal missed
                with contextlib.suppress(Unavailable):
                    missed = await store.put(
                        "cluster",
                        "",
                        {"Spec": {"Dispatcher": {"HeartbeatPeriod": 3 * docs.SECOND}}},
                    )
                return missed > 0

            await _until(write_missed, "the member answers again")
            # A manager joined meanwhile: its member is reached through another name
            # for the same socket, which only a read of the node records can teach.
            alias = base / "alias"
            alias.symlink_to(m.client_socket)
            await store.put(
                "nodes",
                "n2",
                {
                    "ID": "n2",
                    "_Pier": {"Etcd": {"Client": f"unix://{alias}", "Peer": str(m.peer_socket)}},
                },
            )
            await _until_compacted(writer, b"/pier/", missed)
            kicks = agent.kicks
            etcd.set_endpoints([m.client_endpoint])  # back: it resumes from before `missed`
            await _until(lambda: etcd.endpoints == (f"unix://{alias}",), "members read again")
            assert session._heartbeat == 3 * docs.SECOND
            assert agent.kicks > kicks
            assert "reading the store again" in caplog.text
            # And it watches on from the current revision.
            await _until(lambda: seen(4 * docs.SECOND), "watching again")
            assert all(not t.done() for t in session._tasks)
        finally:
            await session.close()
            await etcd.close()
            await writer.close()
            await m.stop()

    asyncio.run(main())
