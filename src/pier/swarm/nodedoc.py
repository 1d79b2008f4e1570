"""A node's record in the store."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pier import timefmt
from pier.cluster.member import EtcdMember
from pier.swarm import docs
from pier.swarm.localstate import LocalState
from pier.swarm.store import SwarmStore, mutate


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFacts:
    hostname: str
    engine_version: str
    ncpu: int
    memory: int
    plugins: tuple[tuple[str, str], ...]  # (type, name)
    labels: tuple[str, ...] = ()  # the daemon's labels, key=value


def engine_labels(facts: NodeFacts) -> dict[str, str]:
    """The daemon's labels as a map, as moby's executor describes its node."""
    return dict(label.partition("=")[::2] for label in facts.labels if "=" in label)


def node_doc(
    state: LocalState,
    role: str,
    req: Mapping[str, Any],
    facts: NodeFacts,
    member: EtcdMember | None,
) -> dict[str, Any]:
    """This node's record as Docker's Node (api/types/swarm), plus Pier's own `_Pier`:
    its cluster port and, for a manager with a member, its etcd sockets."""
    now = timefmt.now()
    doc: dict[str, Any] = {
        "ID": state.node_id,
        "CreatedAt": now,
        "UpdatedAt": now,
        "Spec": {
            "Labels": {},
            "Role": role,
            "Availability": str(req.get("Availability") or "active"),
        },
        "Description": {
            "Hostname": facts.hostname,
            "Platform": {"Architecture": platform.machine(), "OS": "linux"},
            "Resources": {"NanoCPUs": facts.ncpu * docs.SECOND, "MemoryBytes": facts.memory},
            "Engine": {
                "EngineVersion": facts.engine_version,
                "Labels": engine_labels(facts),
                "Plugins": [{"Type": t, "Name": n} for t, n in facts.plugins],
            },
            "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""},
        },
        "Status": {"State": "ready", "Addr": state.advertise_host},
        "_Pier": {"ListenAddr": state.advertise_addr},
    }
    if role == "manager":
        doc["ManagerStatus"] = {"Reachability": "reachable", "Addr": state.advertise_addr}
    if member is not None:
        doc["_Pier"]["Etcd"] = {
            "Client": member.client_endpoint,
            "Peer": str(member.peer_socket),
        }
    return doc


def describe(body: dict[str, Any], facts: NodeFacts) -> dict[str, Any] | None:
    """A node's record brought up to date with what its daemon is now (labels and
    version change across pierd restarts, as moby's node description is sent anew);
    None when nothing changed."""
    engine = body["Description"].setdefault("Engine", {})
    now = {"EngineVersion": facts.engine_version, "Labels": engine_labels(facts)}
    if all(engine.get(k) == v for k, v in now.items()):
        return None
    engine.update(now)
    body["UpdatedAt"] = timefmt.now()
    return body


async def redescribe(store: SwarmStore, node_id: str, facts: NodeFacts) -> None:
    """Write `describe`'s change to the node's record, if any."""
    await mutate(store, "nodes", node_id, lambda body: describe(body, facts))
