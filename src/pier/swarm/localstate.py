"""What this node remembers of its swarm across restarts (data root/swarm/state.json):
enough to reconnect to the cluster store and be the same node again."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalState:
    node_id: str
    cluster_id: str
    manager: bool  # runs an etcd member and the join service
    endpoints: tuple[str, ...]  # the store's client endpoints
    listen_addr: str  # host:port of this node's cluster service
    advertise_addr: str  # the address other nodes and clients reach this node at
    own_member: bool  # an etcd member supervised by this pierd (not a configured store)

    @property
    def advertise_host(self) -> str:
        return self.advertise_addr.rsplit(":", 1)[0]


def load(path: Path) -> LocalState | None:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    raw["endpoints"] = tuple(raw["endpoints"])
    return LocalState(**raw)


def save(path: Path, state: LocalState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state)))
    os.replace(tmp, path)


def forget(path: Path) -> None:
    path.unlink(missing_ok=True)
