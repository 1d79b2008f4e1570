"""Swarm lifecycle of this node: init, join, leave, inspect, update, and the join
requests a manager answers for other nodes.

Without a configured `cluster-store`, `init` starts an etcd member supervised by
pierd, and each manager that joins adds one (member add, then a start with
`--initial-cluster-state existing`). With one, every node is a client of that store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pier import timefmt
from pier.cluster.etcd import Etcd
from pier.cluster.member import EtcdMember
from pier.errors import (
    Conflict,
    InvalidParameter,
    NotImplementedByPier,
    PierError,
    Unavailable,
)
from pier.swarm import addresses, docs, ids, leaving, localstate
from pier.swarm.joindesk import JoinDesk, ask_join
from pier.swarm.localstate import LocalState
from pier.swarm.nodedoc import NodeFacts, node_doc, redescribe
from pier.swarm.nodeserver import LogSource, NodeServer
from pier.swarm.roles import RoleKeeper, removed_while_away
from pier.swarm.session import Agent, Session, Worker

log = logging.getLogger(__name__)

NOT_IN_SWARM = "This node is not part of a swarm"
ALREADY_IN_SWARM = (
    'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm '
    "and join another one."
)
NOT_A_MANAGER = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify "
    "cluster state. Please run this command on a manager node or promote the current "
    "node to a manager."
)
NO_SWARM = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
NO_AUTOLOCK = "Pier does not support autolock: swarm state is kept unencrypted in etcd"


@dataclass(frozen=True, slots=True, kw_only=True)
class SwarmSettings:
    data_root: Path  # <data root>/swarm
    exec_root: Path  # <exec root>/swarm
    cluster_store: tuple[str, ...]  # daemon.json cluster-store; empty: supervise etcd


class SwarmLifecycle:
    def __init__(
        self,
        *,
        settings: SwarmSettings,
        facts: Callable[[], NodeFacts],
        agent: Callable[[Session], Agent],
        orchestrator: Callable[[Session], Worker],
        ingress: Callable[[Session], Worker],
        logs: LogSource,
    ) -> None:
        self._settings = settings
        self._facts = facts
        self._agent = agent
        self._orchestrator = orchestrator
        self._ingress = ingress
        self._server = NodeServer(join=JoinDesk(manager=self.manager).answer, logs=logs)
        self._session: Session | None = None
        self._lock = asyncio.Lock()
        self._roles = RoleKeeper(
            session=lambda: self._session,
            lock=self._lock,
            member=None if settings.cluster_store else self._member,
            save=lambda state: localstate.save(self._state_file, state),
        )

    # -- state -------------------------------------------------------------------

    @property
    def _state_file(self) -> Path:
        return self._settings.data_root / "state.json"

    @property
    def session(self) -> Session | None:
        return self._session

    def active(self) -> Session:
        if self._session is None:
            raise Unavailable(NO_SWARM)
        return self._session

    def manager(self) -> Session:
        session = self.active()
        if not session.manager:
            raise Unavailable(NOT_A_MANAGER)
        return session

    def _member(self, node_id: str) -> EtcdMember:
        return EtcdMember(
            name=node_id,
            socket_dir=self._settings.exec_root / "etcd",
            data_dir=self._settings.data_root / "etcd" / "data",
        )

    async def start(self) -> None:
        """At daemon start: be the node this daemon was, if it was in a swarm."""
        state = localstate.load(self._state_file)
        if state is None:
            return
        try:
            if state.own_member and (
                worker := await removed_while_away(state, self._member(state.node_id))
            ):
                state = worker
                localstate.save(self._state_file, state)
            session = await self._connect(
                state, member=self._member(state.node_id) if state.own_member else None
            )
            await redescribe(session.store, state.node_id, self._facts())
        except PierError as exc:
            log.error("cannot rejoin the swarm: %s", exc)

    async def redescribe(self) -> None:
        """The daemon's labels were reloaded: the node's record follows at once
        (swarmkit's agent sends a changed description within 20 s)."""
        async with self._lock:
            if (session := self._session) is not None:
                try:
                    await redescribe(session.store, session.node_id, self._facts())
                except PierError as exc:
                    log.error("cannot update this node's description: %s", exc)

    async def _connect(
        self, state: LocalState, *, member: EtcdMember | None, start_member: bool = True
    ) -> Session:
        if member is not None and start_member:
            await member.start()
        etcd = Etcd(endpoints=state.endpoints)
        session = Session(
            state=state,
            etcd=etcd,
            member=member,
            agent=self._agent,
            orchestrator=self._orchestrator,
            ingress=self._ingress,
            on_role=self._roles.want,
        )
        try:
            host, port = addresses.split(state.listen_addr, "ListenAddr")
            await self._server.start(host, port)
            try:
                await session.start()
            except BaseException:
                await self._server.close()
                raise
        except BaseException:
            await etcd.close()
            if member is not None:
                await member.stop()
            raise
        self._session = session
        self._roles.open()
        self._roles.want()  # a role changed while this node was away
        return session

    async def close(self) -> None:
        await self._roles.close()
        session, self._session = self._session, None
        if session is not None:
            await self._disconnect(session, revoke=False)

    async def _disconnect(self, session: Session, *, revoke: bool) -> None:
        try:
            await session.close(revoke=revoke)
            await self._server.close()
            await session.etcd.close()
        finally:
            # Whatever failed above, the supervised member does not outlive pierd.
            if session.member is not None:
                await session.member.stop()

    # -- init ----------------------------------------------------------------------

    async def init(self, req: Mapping[str, Any]) -> str:
        async with self._lock:
            if self._session is not None:
                raise Unavailable(ALREADY_IN_SWARM)
            spec = req.get("Spec") or {}
            if req.get("AutoLockManagers") or (spec.get("EncryptionConfig") or {}).get(
                "AutoLockManagers"
            ):
                raise InvalidParameter(NO_AUTOLOCK)
            if spec.get("Name") not in (None, "", "default"):
                raise InvalidParameter('swarm spec must be named "default"')
            listen_host, listen_port = addresses.split(
                str(req.get("ListenAddr") or "0.0.0.0:2377"), "ListenAddr"
            )
            adv_host, adv_port = addresses.advertise(
                listen_host, str(req.get("AdvertiseAddr") or ""), listen_port
            )
            node_id, cluster_id = ids.new_id(), ids.new_id()
            own = not self._settings.cluster_store
            member = self._member(node_id) if own else None
            if member is not None:
                await asyncio.to_thread(member.remove_data)  # what an earlier swarm left
            state = LocalState(
                node_id=node_id,
                cluster_id=cluster_id,
                manager=True,
                endpoints=(member.client_endpoint,) if member else self._settings.cluster_store,
                listen_addr=addresses.join(listen_host, listen_port),
                advertise_addr=addresses.join(adv_host, adv_port),
                own_member=own,
            )
            if member is not None:
                await member.start()
            etcd = Etcd(endpoints=state.endpoints)
            try:
                now = timefmt.now()
                cluster = {
                    "ID": cluster_id,
                    "CreatedAt": now,
                    "UpdatedAt": now,
                    "Spec": docs.default_cluster_spec(spec),
                    "JoinTokens": {
                        "Worker": ids.new_token(cluster_id),
                        "Manager": ids.new_token(cluster_id),
                    },
                }
                if not await etcd.create(b"/pier/swarm/cluster/", docs.dump(cluster)):
                    raise Conflict(
                        "the cluster store already holds a swarm: join it instead of "
                        "initialising a new one"
                    )
                await etcd.put(
                    f"/pier/swarm/nodes/{node_id}".encode(),
                    docs.dump(node_doc(state, "manager", req, self._facts(), member)),
                )
            except BaseException:
                await etcd.close()
                if member is not None:
                    await member.stop()
                    await asyncio.to_thread(member.remove_data)
                raise
            await etcd.close()
            await self._connect(state, member=member, start_member=False)
            localstate.save(self._state_file, state)
            return node_id

    # -- join ----------------------------------------------------------------------

    async def join(self, req: Mapping[str, Any]) -> None:
        async with self._lock:
            if self._session is not None:
                raise Unavailable(ALREADY_IN_SWARM)
            remotes = req.get("RemoteAddrs") or []
            if not remotes:
                raise InvalidParameter("at least 1 RemoteAddr is required to join")
            token = str(req.get("JoinToken") or "")
            cluster_id = ids.token_cluster(token)
            if cluster_id is None:
                raise InvalidParameter("invalid join token")
            listen_host, listen_port = addresses.split(
                str(req.get("ListenAddr") or "0.0.0.0:2377"), "ListenAddr"
            )
            adv_host, adv_port = addresses.advertise(
                listen_host, str(req.get("AdvertiseAddr") or ""), listen_port
            )
            node_id = ids.new_id()
            member = self._member(node_id) if not self._settings.cluster_store else None
            if member is not None:
                await asyncio.to_thread(member.remove_data)
            facts = {
                "ListenAddr": addresses.join(listen_host, listen_port),
                "AdvertiseAddr": addresses.join(adv_host, adv_port),
                "Availability": str(req.get("Availability") or "active"),
            }
            ask: dict[str, Any] = {
                "Token": token,
                "NodeID": node_id,
                "Facts": facts,
                "Etcd": (
                    {"Client": member.client_endpoint, "Peer": str(member.peer_socket)}
                    if member
                    else None
                ),
                "Node": None,
            }
            state = LocalState(
                node_id=node_id,
                cluster_id=cluster_id,
                manager=False,
                endpoints=(),
                listen_addr=facts["ListenAddr"],
                advertise_addr=facts["AdvertiseAddr"],
                own_member=False,
            )
            ask["Node"] = node_doc(state, "worker", req, self._facts(), None)
            answer = await ask_join(str(remotes[0]), ask)
            manager = answer["Role"] == "manager"
            if manager and member is not None:
                for name, socket in answer["Members"].items():
                    member.link_peer(name, socket)
                await member.start(initial=answer["Members"], existing=True)
            endpoints = tuple(answer["Endpoints"])
            if manager and member is not None:
                endpoints = (member.client_endpoint, *endpoints)
            state = LocalState(
                node_id=node_id,
                cluster_id=cluster_id,
                manager=manager,
                endpoints=endpoints,
                listen_addr=state.listen_addr,
                advertise_addr=state.advertise_addr,
                own_member=manager and member is not None,
            )
            await self._connect(state, member=member if manager else None, start_member=False)
            localstate.save(self._state_file, state)

    # -- leave ---------------------------------------------------------------------

    async def leave(self, *, force: bool) -> None:
        async with self._lock:
            session = self._session
            if session is None:
                raise Unavailable(NOT_IN_SWARM)
            if session.manager and not force:
                raise Unavailable(leaving.refusal(*await leaving.manager_counts(session)))
            self._session = None
            await self._roles.close()
            try:
                await session.close(revoke=True)
                await session.leave()
                if session.member is not None:
                    await leaving.leave_etcd(session)
                await self._server.close()
                await session.etcd.close()
            finally:
                # Left for good even if a step failed: no member, no state to rejoin.
                if session.member is not None:
                    await session.member.stop()
                    await asyncio.to_thread(session.member.remove_data)
                localstate.forget(self._state_file)

    # -- inspect / update ------------------------------------------------------------

    async def inspect(self) -> dict[str, Any]:
        session = self.manager()
        doc = await session.store.get("cluster", "")
        if doc is None:
            raise Unavailable("the swarm has no cluster record")
        return docs.render_swarm(doc, with_tokens=True)

    async def update(
        self,
        spec: Mapping[str, Any],
        *,
        version: int,
        rotate_worker: bool,
        rotate_manager: bool,
        rotate_unlock: bool,
    ) -> None:
        session = self.manager()
        if (spec.get("EncryptionConfig") or {}).get("AutoLockManagers") or rotate_unlock:
            raise InvalidParameter(NO_AUTOLOCK)
        if spec.get("Name") not in (None, "", "default"):
            raise InvalidParameter('swarm spec must be named "default"')
        doc = await session.store.get("cluster", "")
        if doc is None:
            raise Unavailable("the swarm has no cluster record")
        body = dict(doc.body)
        body["Spec"] = docs.default_cluster_spec(spec)
        body["UpdatedAt"] = timefmt.now()
        tokens = dict(body["JoinTokens"])
        if rotate_worker:
            tokens["Worker"] = ids.new_token(body["ID"])
        if rotate_manager:
            tokens["Manager"] = ids.new_token(body["ID"])
        body["JoinTokens"] = tokens
        if await session.store.replace("cluster", "", body, revision=version) is None:
            raise PierError(docs.OUT_OF_SEQUENCE)

    def unlock_key(self) -> None:
        self.manager()
        raise InvalidParameter(NO_AUTOLOCK)

    def unlock(self) -> None:
        self.active()
        raise InvalidParameter(NO_AUTOLOCK)

    def refuse(self, what: str) -> None:
        self.manager()
        raise NotImplementedByPier(f"Pier does not support {what} in swarm mode")
