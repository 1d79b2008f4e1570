"""GET/POST/DELETE /nodes on a manager."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from pier import timefmt
from pier.errors import InvalidParameter, NotFound, PierError
from pier.swarm import docs, roles
from pier.swarm.session import Session
from pier.swarm.store import Doc

OUT_OF_SEQUENCE = docs.OUT_OF_SEQUENCE


failed_precondition = roles.failed_precondition


async def rendered(session: Session) -> list[dict[str, Any]]:
    alive = {d.id for d in await session.store.list("alive")}
    leader = await session.store.get("leader", "")
    leader_id = leader["NodeID"] if leader else None
    return [
        docs.render_node(n, ready=n.id in alive, leader=leader_id)
        for n in await session.store.list("nodes")
    ]


def find(nodes: Sequence[Mapping[str, Any]], ref: str) -> Mapping[str, Any]:
    """moby's getNode: full ID, then hostname, then a unique ID prefix."""
    for n in nodes:
        if n["ID"] == ref:
            return n
    named = [n for n in nodes if n["Description"]["Hostname"] == ref]
    if len(named) == 1:
        return named[0]
    prefixed = [n for n in nodes if n["ID"].startswith(ref)]
    if len(prefixed) == 1 and ref:
        return prefixed[0]
    if len(named) > 1 or len(prefixed) > 1:
        raise InvalidParameter(
            f"node {ref} is ambiguous ({len(named) or len(prefixed)} matches found)"
        )
    raise NotFound(f"node {ref} not found")


def matches(node: Mapping[str, Any], filters: Mapping[str, Sequence[str]]) -> bool:
    spec = node["Spec"]
    for key, values in filters.items():
        if not values:
            continue
        if key == "id" and not any(node["ID"].startswith(v) for v in values):
            return False
        if key == "name" and not any(v in node["Description"]["Hostname"] for v in values):
            return False
        if key == "role" and spec["Role"] not in values:
            return False
        if key == "membership" and "accepted" not in values:
            return False
        if key in ("node.label", "label"):
            labels = (
                spec.get("Labels")
                if key == "node.label"
                else node["Description"].get("Engine", {}).get("Labels")
            ) or {}
            for v in values:
                k, eq, want = v.partition("=")
                if k not in labels or (eq and labels[k] != want):
                    return False
        if key not in ("id", "name", "role", "membership", "node.label", "label"):
            raise InvalidParameter(f"invalid filter '{key}'")
    return True


class Nodes:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def list(self, filters: Mapping[str, Sequence[str]]) -> builtins.list[dict[str, Any]]:
        return [n for n in await rendered(self._session) if matches(n, filters)]

    async def get(self, ref: str) -> dict[str, Any]:
        return dict(find(await rendered(self._session), ref))

    async def update(self, ref: str, *, version: int, spec: Mapping[str, Any]) -> None:
        store = self._session.store
        node = find(await rendered(self._session), ref)
        role = str(spec.get("Role") or node["Spec"]["Role"])
        availability = str(spec.get("Availability") or "active")
        if role not in ("worker", "manager"):
            raise InvalidParameter(f"invalid role {role}")
        if availability not in ("active", "pause", "drain"):
            raise InvalidParameter(f"invalid availability {availability}")
        demote = node["Spec"]["Role"] == "manager" and role == "worker"
        if demote:
            await roles.check_demote(self._session, node["ID"])
        doc = await store.get("nodes", node["ID"])
        if doc is None:
            raise NotFound(f"node {ref} not found")
        body = dict(doc.body)
        body["Spec"] = {
            **({"Name": spec["Name"]} if spec.get("Name") else {}),
            "Labels": dict(spec.get("Labels") or {}),
            "Role": role,
            "Availability": availability,
        }
        body["UpdatedAt"] = timefmt.now()
        if await store.replace("nodes", doc.id, body, revision=version) is None:
            raise PierError(OUT_OF_SEQUENCE)
        if demote and node["Status"]["State"] == "down":
            await roles.remove_down_member(self._session, doc.id)

    async def remove(self, ref: str, *, force: bool) -> None:
        store = self._session.store
        node = find(await rendered(self._session), ref)
        if node["Spec"]["Role"] == "manager":
            raise failed_precondition(
                f"node {node['ID']} is a cluster manager and is a member of the raft "
                "cluster. It must be demoted to worker before removal"
            )
        if node["Status"]["State"] != "down" and not force:
            raise failed_precondition(f"node {node['ID']} is not down and can't be removed")
        await store.delete("nodes", node["ID"])
        await store.delete("alive", node["ID"])


def node_of(doc: Doc) -> str:
    return str(doc.get("NodeID") or "")
