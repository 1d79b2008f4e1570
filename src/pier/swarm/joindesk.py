"""Joining a swarm: the request a joining node sends to a manager's cluster port, and
the manager's answer (check the token, record the node, and for a manager add its etcd
member, after the record: from then until the new member runs the cluster may have no
quorum)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from pier.cluster.member import peer_url
from pier.errors import InvalidParameter, PierError, Unavailable
from pier.swarm import addresses
from pier.swarm.session import Session

log = logging.getLogger(__name__)

INVALID_TOKEN = "A valid join token is necessary to join this cluster"


class JoinDesk:
    """A manager's answers to join requests."""

    def __init__(self, *, manager: Callable[[], Session]) -> None:
        self._manager = manager

    async def answer(self, ask: Mapping[str, Any]) -> dict[str, Any]:
        """A manager lets a node in: check its token, record it, and for a manager
        add its etcd member first."""
        session = self._manager()
        cluster = await session.store.get("cluster", "")
        if cluster is None:
            raise Unavailable("the swarm has no cluster record")
        tokens = cluster["JoinTokens"]
        token = ask.get("Token")
        if token == tokens["Manager"]:
            role = "manager"
        elif token == tokens["Worker"]:
            role = "worker"
        else:
            raise InvalidParameter(INVALID_TOKEN)
        node_id = str(ask["NodeID"])
        node = dict(ask["Node"])
        node["Spec"] = {**node["Spec"], "Role": role}
        members: dict[str, str] = {}
        etcd_info = ask.get("Etcd")
        if role == "manager":
            node["ManagerStatus"] = {
                "Reachability": "reachable",
                "Addr": ask["Facts"]["AdvertiseAddr"],
            }
            if etcd_info and session.member is not None:
                node.setdefault("_Pier", {})["Etcd"] = etcd_info
        # Written before the member is added: from then until the new member runs, the
        # cluster may have no quorum (one member of two), and no write would pass.
        await session.store.put("nodes", node_id, node)
        endpoints = [
            n["_Pier"]["Etcd"]["Client"]
            for n in await session.store.list("nodes")
            if n.get("_Pier", {}).get("Etcd") and n.id != node_id
        ] or list(session.etcd.endpoints)
        if role == "manager" and etcd_info and session.member is not None:
            members = await _add_member(session, node_id, str(etcd_info["Peer"]))
        return {"Role": role, "Endpoints": endpoints, "Members": members}


async def _add_member(session: Session, node_id: str, peer: str) -> dict[str, str]:
    assert session.member is not None
    nodes = {n.id: n for n in await session.store.list("nodes")}
    for n in nodes.values():
        etcd = n.get("_Pier", {}).get("Etcd")
        if etcd:
            session.member.link_peer(n.id, etcd["Peer"])
    session.member.link_peer(node_id, peer)
    # Other managers learn the new peer's socket from its node record; etcd keeps
    # retrying its peers meanwhile. A leader adds a voting member only once it has
    # been connected to a quorum for 5 s (strict reconfiguration check).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        try:
            _, current = await session.etcd.member_add([peer_url(node_id)])
            break
        except PierError as exc:
            if loop.time() > deadline:
                raise
            log.info("etcd member add waits: %s", exc)
            await asyncio.sleep(0.5)
    by_name: dict[str, str] = {}
    for m in current:
        name = m.name or node_id
        if name == node_id:
            by_name[name] = peer
        elif name in nodes and nodes[name].get("_Pier", {}).get("Etcd"):
            by_name[name] = nodes[name]["_Pier"]["Etcd"]["Peer"]
    return by_name


async def ask_join(remote: str, ask: Mapping[str, Any]) -> dict[str, Any]:
    host, port = addresses.split(remote, "remoteAddr")
    url = f"http://{addresses.join(host, port)}/join"
    try:
        async with (
            aiohttp.ClientSession() as client,
            client.post(url, json=ask, timeout=aiohttp.ClientTimeout(total=60)) as resp,
        ):
            answer = await resp.json(content_type=None)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise Unavailable(f"cannot reach the manager at {remote}: {exc}") from exc
    if resp.status != 200:
        error = PierError(str(answer.get("message", answer)))
        error.status = resp.status
        raise error
    return dict(answer)
