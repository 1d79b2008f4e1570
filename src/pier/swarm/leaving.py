"""Leaving a swarm: moby's refusals for a manager, and a member's exit from etcd."""

from __future__ import annotations

import logging
from typing import Any

from pier.errors import PierError
from pier.swarm.session import Session

log = logging.getLogger(__name__)


def refusal(reachable: int, unreachable: int) -> str:
    """What dockerd says to a manager leaving without --force (daemon/cluster swarm.go:
    removingManagerCausesLossOfQuorum, isLastManager)."""
    message = "You are attempting to leave the swarm on a node that is participating as a manager. "
    if reachable - 2 <= unreachable:
        if reachable == 1 and unreachable == 0:
            return message + (
                "Removing the last manager erases all current state of the swarm. "
                "Use `--force` to ignore this message. "
            )
        message += (
            f"Removing this node leaves {reachable - 1} managers out of "
            f"{reachable + unreachable}. Without a Raft quorum your swarm will be "
            "inaccessible. "
        )
    return message + (
        "The only way to restore a swarm that has lost consensus is to reinitialize it "
        "with `--force-new-cluster`. Use `--force` to suppress this message."
    )


async def leave_etcd(session: Session) -> None:
    try:
        members = await session.etcd.members()
        if len(members) > 1:
            me = next((m for m in members if m.name == session.node_id), None)
            if me is not None:
                if session.member is not None:
                    session.member.leaving()  # removed, it exits: no restart
                await session.etcd.member_remove(me.id)
                session.etcd.set_endpoints(
                    [e for e in session.etcd.endpoints if session.node_id not in e]
                )
                await session.store.put("nodes", session.node_id, await _without_etcd(session))
    except PierError as exc:
        log.warning("leaving etcd: %s", exc)


async def _without_etcd(session: Session) -> dict[str, Any]:
    doc = await session.store.get("nodes", session.node_id)
    body = dict(doc.body) if doc else {}
    body.get("_Pier", {}).pop("Etcd", None)
    body.pop("ManagerStatus", None)
    return body


async def manager_counts(session: Session) -> tuple[int, int]:
    alive = {d.id for d in await session.store.list("alive")}
    managers = [
        n.id for n in await session.store.list("nodes") if n["Spec"].get("Role") == "manager"
    ]
    reachable = sum(1 for m in managers if m in alive)
    return reachable, len(managers) - reachable
