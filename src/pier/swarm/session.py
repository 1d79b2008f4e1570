"""A node's live membership of a swarm: its lease, its leadership, the watch.

While a node is in a swarm it keeps `alive/<node>` on a lease (renewed every
heartbeat; the lease lives three). A manager also campaigns for `leader`, bound to the
same lease, and the leader runs the orchestrator. If the lease is lost (etcd says so,
or it could not be renewed for as long as it lives) the node fences itself: its agent
stops every task it runs, since the orchestrator has given them to other nodes by
then. It then takes a new lease and starts over from what the store says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from pier.cluster.etcd import Etcd, WatchCompacted
from pier.cluster.member import EtcdMember
from pier.errors import PierError
from pier.swarm import docs
from pier.swarm.localstate import LocalState
from pier.swarm.store import PREFIX, SwarmStore

NODES = PREFIX + b"nodes/"
LEADER = PREFIX + b"leader/"
CLUSTER = PREFIX + b"cluster/"

log = logging.getLogger(__name__)


class Worker(Protocol):
    """Something the session runs while it holds a lease (agent) or leadership
    (orchestrator): `run` until cancelled, `kick` when the store changed."""

    async def run(self) -> None: ...
    def kick(self) -> None: ...


class Agent(Worker, Protocol):
    async def fence(self) -> None:
        """Stop every task this node runs (the lease is lost)."""

    async def leave(self) -> None:
        """Remove every task container of this node (it leaves the swarm)."""


@contextlib.contextmanager
def _logged(task: asyncio.Task[None]) -> Iterator[None]:
    """A background task that died of an error must not stop the others' shutdown."""
    try:
        yield
    except Exception:
        log.exception("swarm task %s failed", task.get_name())


async def _cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel a background task and wait for its end (an error it died of is logged)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError), _logged(task):
            await task


class Session:
    def __init__(
        self,
        *,
        state: LocalState,
        etcd: Etcd,
        member: EtcdMember | None,
        agent: Callable[[Session], Agent],
        orchestrator: Callable[[Session], Worker],
        ingress: Callable[[Session], Worker],
        on_role: Callable[[], None] = lambda: None,
    ) -> None:
        self.state = state
        self._on_role = on_role  # this node's record asks for another role
        self.etcd = etcd
        self.store = SwarmStore(etcd=etcd)
        self.member = member
        self.node_id = state.node_id
        self.lease = 0
        self.leader: str | None = None
        self._agent = agent(self)
        self._orchestrator = orchestrator(self)
        self._ingress = ingress(self)
        self._tasks: list[asyncio.Task[None]] = []
        self._campaigning: asyncio.Task[None] | None = None
        self._leading: asyncio.Task[None] | None = None
        self._agent_task: asyncio.Task[None] | None = None
        self._clients: dict[str, str] = {}  # node ID -> its etcd member's client URL
        self._heartbeat = docs.DEFAULT_HEARTBEAT
        self._lease_ttl = 0
        self._leader_changed = asyncio.Event()

    @property
    def manager(self) -> bool:
        return self.state.manager

    async def heartbeat(self) -> int:
        cluster = await self.store.get("cluster", "")
        return docs.heartbeat_ns(cluster.body if cluster else {})

    async def start(self) -> None:
        await self._learn_members()
        await self._take_lease()
        self._agent_task = asyncio.create_task(self._agent.run(), name="swarm-agent")
        self._tasks = [
            asyncio.create_task(self._ingress.run(), name="swarm-ingress"),
            asyncio.create_task(self._keepalive(), name="swarm-keepalive"),
            asyncio.create_task(self._watch(), name="swarm-watch"),
        ]
        if self.manager:
            self._campaigning = asyncio.create_task(self._campaign(), name="swarm-campaign")

    async def _take_lease(self) -> None:
        self._heartbeat = await self.heartbeat()
        ttl = docs.lease_ttl(self._heartbeat)
        old, self.lease = self.lease, await self.etcd.grant(ttl)
        self._lease_ttl = ttl
        await self.store.put(
            "alive", self.node_id, {"Addr": self.state.advertise_host}, lease=self.lease
        )
        if old:  # a new heartbeat period: the leader key on the old lease goes with it
            with contextlib.suppress(PierError):
                await self.etcd.revoke(old)

    async def _keepalive(self) -> None:
        """Renew the lease every heartbeat (the cluster's Dispatcher.HeartbeatPeriod,
        learnt from the watch); a new period takes a lease of the matching TTL."""
        loop = asyncio.get_running_loop()
        last_ok = loop.time()
        while True:
            period = self._heartbeat / docs.SECOND
            try:
                if docs.lease_ttl(self._heartbeat) != self._lease_ttl:
                    await self._take_lease()
                ttl = await self.etcd.keepalive(self.lease)
                lost = ttl is None
                if not lost:
                    last_ok = loop.time()
            except PierError as exc:
                log.warning("lease renewal failed: %s", exc)
                lost = loop.time() - last_ok > self._lease_ttl
            if lost:
                log.warning("node %s lost its lease: fencing its tasks", self.node_id)
                await self._fence()
                with contextlib.suppress(PierError):
                    self.lease = 0
                    await self._take_lease()
                    last_ok = loop.time()
                    self._agent.kick()
            await asyncio.sleep(period)

    async def _fence(self) -> None:
        await self._stop_leading()
        await self._agent.fence()

    async def _watch(self) -> None:
        revision = await self.store.revision()
        while True:
            try:
                async for message in self.store.watch(start_revision=revision + 1):
                    revision = message.revision
                    for event in message.events:
                        if event.kv.key == LEADER:
                            self._leader_changed.set()
                        elif event.kv.key == CLUSTER and event.kv.value:
                            self._heartbeat = docs.heartbeat_ns(json.loads(event.kv.value))
                        elif event.kv.key.startswith(NODES):
                            self._node_changed(event.kv.key, event.kv.value)
                    self._agent.kick()
                    self._ingress.kick()
                    if self._leading is not None:
                        self._orchestrator.kick()
            except WatchCompacted as exc:
                log.warning("swarm watch: %s; reading the store again", exc)
                revision = await self._resync()

    async def _resync(self) -> int:
        """After a compacted watch: what the lost events would have said, read anew (the
        heartbeat, the managers' members, this node's role, the leader), and every
        worker kicked to compare the store with what it runs. The revision is read
        first, so a change made meanwhile is seen again by the watch, not lost."""
        while True:
            try:
                revision = await self.store.revision()
                self._heartbeat = await self.heartbeat()
                self._clients.clear()
                await self._learn_members()
                break
            except PierError as exc:
                log.warning("swarm watch: cannot read the store again: %s", exc)
                await asyncio.sleep(1)
        self._leader_changed.set()
        self._agent.kick()
        self._ingress.kick()
        if self._leading is not None:
            self._orchestrator.kick()
        return revision

    def _node_changed(self, key: bytes, raw: bytes) -> None:
        """A manager joined or left: its etcd member must be reachable by the name in
        its peer URL from this member's directory, and every client may use it."""
        node_id = key.rsplit(b"/", 1)[1].decode()
        body = json.loads(raw) if raw else {}
        if node_id == self.node_id:
            self._check_role(body)
        etcd = (body.get("_Pier") or {}).get("Etcd")
        if etcd:
            if self.member is not None:
                self.member.link_peer(node_id, etcd["Peer"])
            self._clients[node_id] = etcd["Client"]
        else:
            self._clients.pop(node_id, None)
        self._use_endpoints()

    def _use_endpoints(self) -> None:
        """This node's own member first: it answers even when others are away."""
        own = [self.member.client_endpoint] if self.member is not None else []
        others = sorted(e for e in self._clients.values() if e not in own)
        if own or others:
            self.etcd.set_endpoints(own + others)

    async def _learn_members(self) -> None:
        for node in await self.store.list("nodes"):
            if node.id == self.node_id:
                self._check_role(node.body)
            etcd = node.get("_Pier", {}).get("Etcd")
            if etcd:
                self._clients[node.id] = etcd["Client"]
                if self.member is not None:
                    self.member.link_peer(node.id, etcd["Peer"])
        self._use_endpoints()

    def _check_role(self, body: Mapping[str, Any]) -> None:
        role = (body.get("Spec") or {}).get("Role")
        if role in ("manager", "worker") and (role == "manager") != self.manager:
            self._on_role()

    # -- role changes (pier.swarm.roles drives them) ---------------------------------

    def became_manager(self, state: LocalState, member: EtcdMember | None) -> None:
        self.state, self.member = state, member
        self._use_endpoints()
        if self._campaigning is None:
            self._campaigning = asyncio.create_task(self._campaign(), name="swarm-campaign")

    async def stop_managing(self) -> None:
        """No more campaigning or leading; the leader key goes if this node held it,
        so that another manager takes over at once rather than when the lease ends."""
        task, self._campaigning = self._campaigning, None
        await _cancel(task)
        await self._stop_leading()
        holder = await self.store.get("leader", "")
        if holder is not None and holder.get("NodeID") == self.node_id:
            await self.store.delete("leader", "")
        self.leader = None

    def drop_own_member(self) -> tuple[str, ...]:
        """Stop using this node's own etcd member (it is being removed); the client
        endpoints left."""
        own = self.member.client_endpoint if self.member is not None else None
        self._clients.pop(self.node_id, None)
        others = tuple(e for e in self.etcd.endpoints if e != own) or tuple(
            sorted(self._clients.values())
        )
        self.etcd.set_endpoints(others)
        return others

    def became_worker(self, state: LocalState) -> None:
        self.state, self.member = state, None
        self._use_endpoints()

    async def _campaign(self) -> None:
        """Managers try for the leader key when it is free: at start, and each time the
        watch sees it change (its holder left, or its lease expired)."""
        while True:
            self._leader_changed.clear()
            try:
                if self._leading is None and await self.store.claim(
                    "leader", "", {"NodeID": self.node_id}, lease=self.lease
                ):
                    log.info("node %s is the leader", self.node_id)
                    self._leading = asyncio.create_task(
                        self._orchestrator.run(), name="swarm-orchestrator"
                    )
                holder = await self.store.get("leader", "")
                self.leader = holder["NodeID"] if holder else None
                if self.leader != self.node_id:
                    await self._stop_leading()
                wait = 5.0 if self.leader else 0.5
            except PierError as exc:
                log.debug("campaign: %s", exc)
                wait = 0.5
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._leader_changed.wait(), wait)

    async def _stop_leading(self) -> None:
        task, self._leading = self._leading, None
        await _cancel(task)

    async def leave(self) -> None:
        await self._agent.leave()

    async def close(self, *, revoke: bool = True) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError), _logged(task):
                await task
        self._tasks = []
        campaign, self._campaigning = self._campaigning, None
        await _cancel(campaign)
        await self._stop_leading()
        agent, self._agent_task = self._agent_task, None
        await _cancel(agent)
        if revoke and self.lease:
            with contextlib.suppress(PierError):
                await self.etcd.revoke(self.lease)
