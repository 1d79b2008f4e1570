"""Where a new task goes (swarmkit's scheduler, reduced): among ready, active nodes
that satisfy the constraints, the max-replicas-per-node limit, the resource
reservations and host-mode port exclusivity, the spread preferences' emptiest group,
then the node with the fewest tasks of the service, then the fewest tasks. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pier.swarm.constraints import _value, parse_constraints


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeView:
    id: str
    body: Mapping[str, Any]
    ready: bool

    @property
    def active(self) -> bool:
        return (
            self.ready and (self.body.get("Spec") or {}).get("Availability", "active") == "active"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Placed:
    """A task that holds its place on a node (desired running)."""

    node_id: str
    service_id: str
    template: Mapping[str, Any]
    host_ports: tuple[tuple[int, str], ...]


def host_ports(endpoint_ports: Iterable[Mapping[str, Any]]) -> tuple[tuple[int, str], ...]:
    return tuple(
        (int(p["PublishedPort"]), str(p.get("Protocol") or "tcp"))
        for p in endpoint_ports
        if p.get("PublishMode") == "host" and p.get("PublishedPort")
    )


def _reservations(template: Mapping[str, Any]) -> tuple[int, int]:
    r = (template.get("Resources") or {}).get("Reservations") or {}
    return int(r.get("NanoCPUs") or 0), int(r.get("MemoryBytes") or 0)


def fits(
    node: NodeView,
    *,
    service_id: str,
    template: Mapping[str, Any],
    ports: tuple[tuple[int, str], ...],
    placed: Sequence[Placed],
) -> str | None:
    """Why `node` cannot take the task, or None when it can."""
    if not node.active:
        return "node not available for new tasks"
    placement = template.get("Placement") or {}
    for c in parse_constraints(placement.get("Constraints") or []):
        if not c.matches({"ID": node.id, **node.body}):
            return "scheduling constraints not satisfied"
    here = [p for p in placed if p.node_id == node.id]
    limit = int(placement.get("MaxReplicas") or 0)
    if limit and sum(1 for p in here if p.service_id == service_id) >= limit:
        return "max replicas per node limit exceed"
    taken = {port for p in here for port in p.host_ports}
    if any(port in taken for port in ports):
        return "host-mode port already in use on 1 node"
    cpu, mem = _reservations(template)
    if cpu or mem:
        resources = (node.body.get("Description") or {}).get("Resources") or {}
        used_cpu = sum(_reservations(p.template)[0] for p in here)
        used_mem = sum(_reservations(p.template)[1] for p in here)
        if cpu and used_cpu + cpu > int(resources.get("NanoCPUs") or 0):
            return "insufficient resources on 1 node"
        if mem and used_mem + mem > int(resources.get("MemoryBytes") or 0):
            return "insufficient resources on 1 node"
    return None


def pick(
    nodes: Sequence[NodeView],
    *,
    service_id: str,
    template: Mapping[str, Any],
    ports: tuple[tuple[int, str], ...],
    placed: Sequence[Placed],
) -> tuple[str | None, str]:
    """The chosen node's ID, or None and swarmkit-like words saying why not."""
    reasons: Counter[str] = Counter()
    candidates = []
    for node in nodes:
        why = fits(node, service_id=service_id, template=template, ports=ports, placed=placed)
        if why is None:
            candidates.append(node)
        else:
            reasons[why] += 1
    if not candidates:
        detail = "; ".join(f"{why} on {n} node{'s' if n > 1 else ''}" for why, n in reasons.items())
        return None, f"no suitable node ({detail or 'no nodes'})"
    mine = Counter(p.node_id for p in placed if p.service_id == service_id)
    total = Counter(p.node_id for p in placed)
    spreads = [
        str(pref["Spread"].get("SpreadDescriptor", ""))
        for pref in (template.get("Placement") or {}).get("Preferences") or []
        if pref.get("Spread")
    ]
    by_id = {n.id: n for n in nodes}

    def group_load(node: NodeView) -> tuple[int, ...]:
        loads = []
        for key in spreads:
            value = _value({"ID": node.id, **node.body}, key)
            loads.append(
                sum(
                    n
                    for nid, n in mine.items()
                    if nid in by_id and _value({"ID": nid, **by_id[nid].body}, key) == value
                )
            )
        return tuple(loads)

    best = min(candidates, key=lambda n: (group_load(n), mine[n.id], total[n.id], n.id))
    return best.id, ""
