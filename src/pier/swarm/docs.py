"""Docker's swarm JSON (moby api/types/swarm, API v1.47) for what the store holds.

Stored documents are already Docker-shaped; rendering adds what is derived at read
time: `Version` from the etcd revision, a node's `Status.State` from its liveness key,
`ManagerStatus.Leader` from the leader key.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from pier.swarm.store import Doc

SECOND = 1_000_000_000
# Pier's heartbeat: a node renews its lease every period; the lease lives three.
DEFAULT_HEARTBEAT = 1 * SECOND
TASK_HISTORY = 5
# swarmkit's answer to a write naming a stale Version.Index, as dockerd passes it on.
OUT_OF_SEQUENCE = "rpc error: code = Unknown desc = update out of sequence"


def dump(body: Mapping[str, Any]) -> bytes:
    """A document as stored: compact JSON with sorted keys."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def default_cluster_spec(given: Mapping[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "Name": "default",
        "Labels": {},
        "Orchestration": {"TaskHistoryRetentionLimit": TASK_HISTORY},
        "Raft": {
            "SnapshotInterval": 10000,
            "KeepOldSnapshots": 0,
            "LogEntriesForSlowFollowers": 500,
            "ElectionTick": 10,
            "HeartbeatTick": 1,
        },
        "Dispatcher": {"HeartbeatPeriod": DEFAULT_HEARTBEAT},
        "CAConfig": {"NodeCertExpiry": 90 * 24 * 3600 * SECOND},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": False},
    }
    for key, value in (given or {}).items():
        if isinstance(value, Mapping) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **{k: v for k, v in value.items() if v not in (None, 0)}}
        elif value is not None:
            spec[key] = value
    return spec


def heartbeat_ns(cluster: Mapping[str, Any]) -> int:
    period = int((cluster.get("Spec") or {}).get("Dispatcher", {}).get("HeartbeatPeriod") or 0)
    return period or DEFAULT_HEARTBEAT


def lease_ttl(heartbeat: int) -> int:
    """Seconds: three heartbeats, at least etcd's minimum of 2."""
    return max(2, round(3 * heartbeat / SECOND))


def render_swarm(doc: Doc, *, with_tokens: bool) -> dict[str, Any]:
    body = {k: v for k, v in doc.body.items() if not k.startswith("_")}
    out = {
        "ID": body["ID"],
        "Version": {"Index": doc.revision},
        "CreatedAt": body["CreatedAt"],
        "UpdatedAt": body["UpdatedAt"],
        "Spec": body["Spec"],
        "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""},
        "RootRotationInProgress": False,
        "DefaultAddrPool": ["10.0.0.0/8"],
        "SubnetSize": 24,
        "DataPathPort": 4789,
    }
    if with_tokens:
        out["JoinTokens"] = body["JoinTokens"]
    return out


def render_node(doc: Doc, *, ready: bool, leader: str | None) -> dict[str, Any]:
    body = copy.deepcopy({k: v for k, v in doc.body.items() if not k.startswith("_")})
    body["Version"] = {"Index": doc.revision}
    body["Status"] = {
        "State": "ready" if ready else "down",
        **({} if ready else {"Message": "heartbeat failure"}),
        "Addr": body.get("Status", {}).get("Addr", ""),
    }
    if body["Spec"].get("Role") == "manager" and "ManagerStatus" in body:
        status = body["ManagerStatus"]
        status["Reachability"] = "reachable" if ready else "unreachable"
        if leader == doc.id:
            status["Leader"] = True
        else:
            status.pop("Leader", None)
    else:
        body.pop("ManagerStatus", None)
    return body


def render_service(doc: Doc) -> dict[str, Any]:
    body = copy.deepcopy({k: v for k, v in doc.body.items() if not k.startswith("_")})
    body["Version"] = {"Index": doc.revision}
    return body


def render_task(doc: Doc) -> dict[str, Any]:
    body = copy.deepcopy({k: v for k, v in doc.body.items() if not k.startswith("_")})
    body["Version"] = {"Index": doc.revision}
    return body


# Task states in swarmkit's order (api/types/swarm/task.go); a task only moves forward.
TASK_STATES = (
    "new",
    "allocated",
    "pending",
    "assigned",
    "accepted",
    "preparing",
    "ready",
    "starting",
    "running",
    "complete",
    "shutdown",
    "failed",
    "rejected",
    "remove",
    "orphaned",
)
_ORDER = {s: i for i, s in enumerate(TASK_STATES)}


def state_order(state: str) -> int:
    return _ORDER.get(state, 0)


def terminal(state: str) -> bool:
    return state_order(state) > _ORDER["running"]
