"""Placement: constraints (swarmkit's syntax and matching) and the scheduler's choice."""

from __future__ import annotations

from typing import Any

import pytest

from pier.swarm.constraints import parse_constraints
from pier.swarm.scheduler import NodeView, Placed, fits, pick


def node(
    nid: str,
    *,
    role: str = "worker",
    labels: dict[str, str] | None = None,
    ready: bool = True,
    availability: str = "active",
    cpus: int = 2,
) -> NodeView:
    return NodeView(
        id=nid,
        ready=ready,
        body={
            "Spec": {"Role": role, "Availability": availability, "Labels": labels or {}},
            "Description": {
                "Hostname": f"host-{nid}",
                "Platform": {"OS": "linux", "Architecture": "x86_64"},
                "Resources": {"NanoCPUs": cpus * 10**9, "MemoryBytes": 2**30},
                "Engine": {"Labels": {"zone": "a"}},
            },
        },
    )  # fmt: skip


def template(**placement: Any) -> dict[str, Any]:
    return {"ContainerSpec": {"Image": "busybox"}, "Placement": placement}


@pytest.mark.parametrize(
    ("expr", "matching"),
    [
        ("node.role==manager", {"m"}),
        ("node.role!=manager", {"w1", "w2"}),
        ("node.hostname==host-w1", {"w1"}),
        ("node.labels.disk==ssd", {"w2"}),
        ("node.labels.disk!=ssd", {"m", "w1"}),  # a missing label is unequal
        ("engine.labels.zone==a", {"m", "w1", "w2"}),
        ("node.platform.os==LINUX", {"m", "w1", "w2"}),  # case-insensitive but labels
        ("node.id==w2", {"w2"}),
    ],
)
def test_constraints(expr: str, matching: set[str]) -> None:
    nodes = [node("m", role="manager"), node("w1"), node("w2", labels={"disk": "ssd"})]
    (c,) = parse_constraints([expr])
    assert {n.id for n in nodes if c.matches({"ID": n.id, **n.body})} == matching


@pytest.mark.parametrize("bad", ["node.role", "node.role=manager", "node.colour==red", "==x"])
def test_bad_constraints_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_constraints([bad])


def test_pick_spreads_then_balances() -> None:
    nodes = [node("a"), node("b"), node("c")]
    placed = [
        Placed(node_id="a", service_id="s", template={}, host_ports=()),
        Placed(node_id="b", service_id="other", template={}, host_ports=()),
    ]
    # c has none of this service and nothing else: it wins; then b beats a.
    assert pick(nodes, service_id="s", template=template(), ports=(), placed=placed)[0] == "c"
    placed.append(Placed(node_id="c", service_id="s", template={}, host_ports=()))
    assert pick(nodes, service_id="s", template=template(), ports=(), placed=placed)[0] == "b"


def test_unavailable_nodes_and_limits() -> None:
    nodes = [node("down", ready=False), node("drained", availability="drain"),
             node("paused", availability="pause"), node("ok")]  # fmt: skip
    chosen, _ = pick(nodes, service_id="s", template=template(), ports=(), placed=[])
    assert chosen == "ok"
    placed = [Placed(node_id="ok", service_id="s", template={}, host_ports=((80, "tcp"),))]
    chosen, why = pick(
        nodes, service_id="s", template=template(MaxReplicas=1), ports=(), placed=placed
    )
    assert chosen is None
    assert why.startswith("no suitable node (") and "max replicas per node" in why
    assert fits(nodes[3], service_id="t", template=template(), ports=((80, "tcp"),),
                placed=placed) == "host-mode port already in use on 1 node"  # fmt: skip


def test_reservations_must_fit() -> None:
    big = {"ContainerSpec": {}, "Resources": {"Reservations": {"NanoCPUs": 3 * 10**9}}}
    chosen, why = pick([node("small", cpus=2)], service_id="s", template=big, ports=(), placed=[])
    assert chosen is None and "insufficient resources" in why


def test_spread_preference_evens_out_label_groups() -> None:
    nodes = [node("a1", labels={"zone": "a"}), node("a2", labels={"zone": "a"}),
             node("b1", labels={"zone": "b"})]  # fmt: skip
    spread = template(Preferences=[{"Spread": {"SpreadDescriptor": "node.labels.zone"}}])
    placed = [Placed(node_id="a1", service_id="s", template={}, host_ports=())]
    assert pick(nodes, service_id="s", template=spread, ports=(), placed=placed)[0] == "b1"
