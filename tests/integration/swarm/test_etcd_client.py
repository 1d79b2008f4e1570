"""The etcd client against real etcd members (Debian's etcd-server) on UNIX sockets:
key-value, transactions, leases, watches, members, failover."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_fixtures import etcd_processes, member, short_dir

from pier.cluster.etcd import Etcd, EtcdError
from pier.cluster.etcdwire import EventType


@pytest.fixture
def base() -> Iterator[Path]:
    yield from short_dir()


def test_kv_txn_lease_and_watch(base: Path) -> None:
    async def main() -> None:
        m = member(base, "one")
        await m.start()
        etcd = Etcd(endpoints=[m.client_endpoint])
        try:
            rev = await etcd.put(b"/t/a", b"1")
            assert (await etcd.get(b"/t/a")).value == b"1"  # type: ignore[union-attr]
            assert await etcd.get(b"/t/missing") is None
            assert not await etcd.create(b"/t/a", b"2")
            assert await etcd.create(b"/t/b", b"2")
            found = await etcd.range(b"/t/")
            assert [kv.key for kv in found.kvs] == [b"/t/a", b"/t/b"]
            # Compare-and-swap on the modification revision (Version.Index).
            assert await etcd.replace(b"/t/a", b"3", mod_revision=rev - 1) is None
            assert await etcd.replace(b"/t/a", b"3", mod_revision=rev) is not None

            lease = await etcd.grant(2)
            await etcd.put(b"/t/leased", b"x", lease=lease)
            assert await etcd.keepalive(lease) == 2
            await etcd.revoke(lease)
            assert await etcd.keepalive(lease) is None  # lost: 200 without TTL
            assert await etcd.get(b"/t/leased") is None
            with pytest.raises(EtcdError):
                await etcd.put(b"/t/x", b"y", lease=12345)  # no such lease

            start = found.revision + 1
            seen: list[tuple[EventType, bytes]] = []

            async def follow() -> None:
                async for message in etcd.watch(b"/t/", start_revision=start):
                    seen.extend((e.type, e.kv.key) for e in message.events)
                    if len(seen) >= 4:
                        return

            watcher = asyncio.create_task(follow())
            await etcd.delete(b"/t/b")
            await asyncio.wait_for(watcher, 10)
            assert seen[:2] == [(EventType.PUT, b"/t/a"), (EventType.PUT, b"/t/leased")]
            assert (EventType.DELETE, b"/t/b") in seen
            assert (await etcd.members())[0].name == "one"
        finally:
            await etcd.close()
            await m.stop()

    asyncio.run(main())


@pytest.mark.slow
def test_three_members_fail_over_after_the_leader_dies(base: Path) -> None:
    async def main() -> None:
        first = member(base, "m1")
        await first.start()
        etcd = Etcd(endpoints=[first.client_endpoint])
        members = [first]
        try:
            for name in ("m2", "m3"):
                joining = member(base, name)
                # etcd adds a voting member only once the leader has been connected to
                # a quorum for 5 s (strict reconfiguration check): retried until then.
                await _until(lambda n=name: _add(etcd, n))
                peers = {m.name: str(m.peer_socket) for m in members}
                peers[name] = str(joining.peer_socket)
                for m in members:
                    m.link_peer(name, str(joining.peer_socket))
                await joining.start(initial=peers, existing=True)
                members.append(joining)
                etcd.set_endpoints([m.client_endpoint for m in members])
                await _until(lambda: _all_started(etcd, len(members)))
            await etcd.put(b"/k", b"v")
            status = await etcd.status()
            by_id = {m.id: m.name for m in await etcd.members()}
            leader = next(m for m in members if m.name == by_id[int(status["leader"])])
            assert leader.pid is not None
            leader.signal(signal.SIGKILL)  # its supervisor starts it again a second later
            # The next write lands once a new leader is elected, through another member.
            await _until(lambda: _write(etcd))
            assert (await etcd.get(b"/k")).value == b"v"  # type: ignore[union-attr]
        finally:
            await etcd.close()
            for m in members:
                await m.stop()
        assert etcd_processes(str(base)) == []

    asyncio.run(main())


async def _all_started(etcd: Etcd, n: int) -> bool:
    return sum(1 for m in await etcd.members() if m.name) == n


async def _add(etcd: Etcd, name: str) -> bool:
    await etcd.member_add([f"unix://p-{name}:1"])
    return True


async def _write(etcd: Etcd) -> bool:
    try:
        await etcd.put(b"/k2", b"v")
        return True
    except Exception:
        return False


async def _until(check: object, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            if await check():  # type: ignore[operator]
                return
        except Exception:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")
