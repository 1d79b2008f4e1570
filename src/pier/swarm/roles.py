"""Node role changes (`docker node promote/demote`), as swarmkit's role manager and
node reconcile them.

A manager's API writes the node's desired role (`Spec.Role`) after moby's demotion
checks (the last manager, the member in etcd's list, quorum after its removal). The
node itself acts on it when its watch sees its own record change, or at start: a
promoted node adds its etcd member and starts it with `--initial-cluster-state
existing`, as a manager joining does; a demoted one removes its member, stops it, drops
its data and goes on as a client of the others. The node does it, not the API's
manager, because only its pierd supervises its member: a member removed by someone
else would exit and be started again as a stranger to the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pier.cluster.etcd import Etcd
from pier.cluster.etcdwire import Member
from pier.cluster.member import EtcdMember, client_name, peer_url
from pier.errors import InvalidParameter, NotFound, PierError
from pier.swarm.localstate import LocalState
from pier.swarm.session import Session
from pier.swarm.store import mutate

log = logging.getLogger(__name__)

LAST_MANAGER = "attempting to demote the last manager of the swarm"
NOT_IN_RAFT = "can't find manager in raft memberlist"
LOSS_OF_QUORUM = "can't remove member from the raft: this would result in a loss of quorum"
# A member is reachable if its client socket answers within this (seconds).
_PROBE_TIMEOUT = 1.0


def failed_precondition(desc: str) -> InvalidParameter:
    return InvalidParameter(f"rpc error: code = FailedPrecondition desc = {desc}")


def _etcd_of(node: Mapping[str, Any]) -> Mapping[str, str] | None:
    etcd = (node.get("_Pier") or {}).get("Etcd")
    return etcd if etcd else None


async def check_demote(session: Session, node_id: str) -> None:
    """swarmkit's controlapi UpdateNode demotion checks, in its words."""
    nodes = {n.id: n for n in await session.store.list("nodes")}
    managers = [i for i, n in nodes.items() if n["Spec"].get("Role") == "manager"]
    if managers == [node_id]:
        raise failed_precondition(LAST_MANAGER)
    target = nodes.get(node_id)
    if target is None or _etcd_of(target.body) is None:
        return  # a configured store: no member of its own to remove
    members = await session.etcd.members()
    if not any(m.name == node_id for m in members):
        raise NotFound(f"rpc error: code = NotFound desc = {NOT_IN_RAFT}")
    # raft's CanRemoveMember: the members left must hold a quorum of the smaller cluster.
    reachable = 0
    for m in members:
        if m.name == node_id:
            continue
        etcd = _etcd_of(nodes[m.name].body) if m.name in nodes else None
        if etcd is not None and await _answers(etcd["Client"]):
            reachable += 1
    if reachable < (len(members) - 1) // 2 + 1:
        raise failed_precondition(LOSS_OF_QUORUM)


async def _answers(endpoint: str) -> bool:
    etcd = Etcd(endpoints=[endpoint], timeout=_PROBE_TIMEOUT)
    try:
        await etcd.status()
        return True
    except PierError:
        return False
    finally:
        await etcd.close()


def initial_cluster(
    members: tuple[Member, ...], nodes: Mapping[str, Mapping[str, Any]], me: str, peer: str
) -> dict[str, str]:
    """etcd's --initial-cluster for a member just added: every member's name (the new
    one has none yet) to its peer socket, learnt from the node records."""
    by_name: dict[str, str] = {}
    for m in members:
        name = m.name or me
        if name == me:
            by_name[name] = peer
        elif name in nodes and (etcd := _etcd_of(nodes[name])) is not None:
            by_name[name] = etcd["Peer"]
    return by_name


async def add_member(etcd: Etcd, name: str) -> tuple[Member, ...]:
    """Add `name`'s member (unless an earlier try did) and answer the member list. A
    leader adds a voting member only once it has been connected to a quorum for 5 s
    (etcd's strict reconfiguration check): retried meanwhile."""
    url = peer_url(name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        try:
            current = await etcd.members()
            if any(url in m.peer_urls for m in current):
                return current
            _, current = await etcd.member_add([url])
            return current
        except PierError as exc:
            if loop.time() > deadline:
                raise
            log.info("etcd member add waits: %s", exc)
            await asyncio.sleep(0.5)


async def remove_down_member(session: Session, node_id: str) -> None:
    """A manager demoted while down cannot remove its own member: the manager that
    demoted it does (as swarmkit's role manager does for any node), so the cluster's
    quorum does not count a member that may never come back. Back, the node finds
    itself removed before it starts its member (`removed_while_away`)."""
    for m in await session.etcd.members():
        if m.name == node_id:
            await _retry(lambda m=m: session.etcd.member_remove(m.id))  # type: ignore[misc]

    def worker(body: dict[str, Any]) -> dict[str, Any]:
        body.pop("ManagerStatus", None)
        (body.get("_Pier") or {}).pop("Etcd", None)
        return body

    await mutate(session.store, "nodes", node_id, worker)


async def removed_while_away(state: LocalState, member: EtcdMember) -> LocalState | None:
    """At start, a manager whose member was removed while it was down (demoted) must
    not start that member again: it would be a stranger to the cluster. Its peers'
    client sockets sit beside the peer sockets its directory links to; if they answer
    without it among the members, its data goes and it comes back as a worker."""
    clients = sorted(
        f"unix://{link.resolve().parent / client_name(link.name[2:].rsplit(':', 1)[0])}"
        for link in member.socket_dir.glob("p-*:1")
        if link.is_symlink()
    )
    if not clients:
        return None
    etcd = Etcd(endpoints=clients, timeout=_PROBE_TIMEOUT * 2)
    try:
        names = {m.name for m in await etcd.members()}
    except PierError:
        return None  # nobody answers: start as the member it was
    finally:
        await etcd.close()
    if member.name in names or "" in names:
        return None
    log.warning("this node's etcd member was removed while it was away: now a worker")
    await asyncio.to_thread(member.remove_data)
    return dataclasses.replace(state, manager=False, own_member=False, endpoints=tuple(clients))


class RoleKeeper:
    """Brings this node's role to what its record says, one change at a time, in a
    task of its own (the watch that notices must not wait for etcd's reconfiguration)."""

    def __init__(
        self,
        *,
        session: Callable[[], Session | None],
        lock: asyncio.Lock,
        member: Callable[[str], EtcdMember] | None,
        save: Callable[[LocalState], None],
    ) -> None:
        self._session = session
        self._lock = lock
        self._member = member  # None: a configured cluster store, no member of our own
        self._save = save
        self._task: asyncio.Task[None] | None = None
        self._again = asyncio.Event()
        self._open = False

    def open(self) -> None:
        """A session starts: its watch may ask for changes from now on."""
        self._open = True

    def want(self) -> None:
        """The node's record changed: look again."""
        if not self._open:
            return
        self._again.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="swarm-role")

    async def close(self) -> None:
        self._open = False  # the session's watch may still call want() until it ends
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while self._again.is_set():
            self._again.clear()
            try:
                async with self._lock:
                    await self._reconcile()
            except Exception as exc:
                if isinstance(exc, PierError):
                    log.warning("role change: %s; trying again", exc)
                else:
                    log.exception("role change failed; trying again")
                await asyncio.sleep(1)
                self._again.set()

    async def _reconcile(self) -> None:
        session = self._session()
        if session is None:
            return
        doc = await session.store.get("nodes", session.node_id)
        if doc is None:
            return
        role = doc["Spec"].get("Role")
        if role == "manager" and not session.manager:
            await self._promote(session)
        elif role == "worker" and session.manager:
            await self._demote(session)

    async def _promote(self, session: Session) -> None:
        log.info("node %s is promoted to a manager", session.node_id)
        state = session.state
        member = self._member(session.node_id) if self._member is not None else None
        if member is not None:
            await asyncio.to_thread(member.remove_data)  # what an earlier membership left
            mine = {"Client": member.client_endpoint, "Peer": str(member.peer_socket)}
            # Recorded before the member is added, so the other managers link its
            # socket under the name its peer URL gives (their watch sees this).
            await _set_own(session, lambda b: b.setdefault("_Pier", {}).update(Etcd=mine))
            nodes = {n.id: n.body for n in await session.store.list("nodes")}
            for name, node in nodes.items():
                if (etcd := _etcd_of(node)) is not None:
                    member.link_peer(name, etcd["Peer"])
            current = await add_member(session.etcd, session.node_id)
            try:
                await member.start(
                    initial=initial_cluster(current, nodes, session.node_id, mine["Peer"]),
                    existing=True,
                )
                state = dataclasses.replace(
                    state,
                    endpoints=(member.client_endpoint, *session.etcd.endpoints),
                    own_member=True,
                )
                await self._became_manager(session, state, member)
            except BaseException:
                # Not the session's yet: nobody else would stop it.
                if session.member is not member:
                    await member.stop()
                raise
        else:
            await self._became_manager(session, state, None)

    async def _became_manager(
        self, session: Session, state: LocalState, member: EtcdMember | None
    ) -> None:
        state = dataclasses.replace(state, manager=True)
        manager_status = {"Reachability": "reachable", "Addr": state.advertise_addr}
        await _set_own(session, lambda b: b.update(ManagerStatus=manager_status))
        self._save(state)
        session.became_manager(state, member)

    async def _demote(self, session: Session) -> None:
        log.info("node %s is demoted to a worker", session.node_id)
        await session.stop_managing()
        member = session.member
        if member is not None:
            found = [m for m in await session.etcd.members() if m.name == session.node_id]
            others = session.drop_own_member()
            member.leaving()  # removed, it exits: no restart
            for m in found:
                await _retry(lambda m=m: session.etcd.member_remove(m.id))  # type: ignore[misc]
            await member.stop()
            await asyncio.to_thread(member.remove_data)
            state = dataclasses.replace(
                session.state, manager=False, own_member=False, endpoints=others
            )
        else:
            state = dataclasses.replace(session.state, manager=False)

        def worker(body: dict[str, Any]) -> None:
            body.pop("ManagerStatus", None)
            (body.get("_Pier") or {}).pop("Etcd", None)

        await _set_own(session, worker)
        self._save(state)
        session.became_worker(state)


async def _set_own(session: Session, change: Callable[[dict[str, Any]], None]) -> None:
    def apply(body: dict[str, Any]) -> dict[str, Any]:
        change(body)
        return body

    await mutate(session.store, "nodes", session.node_id, apply)


async def _retry(call: Callable[[], Awaitable[None]]) -> None:
    """etcd refuses a removal while the cluster is reconfiguring; it passes shortly."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        try:
            await call()
            return
        except PierError as exc:
            if "not found" in str(exc).lower():
                return  # removed already
            if loop.time() > deadline:
                raise
            log.info("etcd member remove waits: %s", exc)
            await asyncio.sleep(0.5)
