"""Placement constraints (swarmkit's manager/constraint): `key==value` or `key!=value`
over node.id, node.hostname, node.role, node.platform.os/arch, node.labels.<k>,
engine.labels.<k>. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Constraint:
    key: str
    equal: bool
    value: str

    def matches(self, node: Mapping[str, Any]) -> bool:
        found = _value(node, self.key)
        if found is None:
            return not self.equal  # a missing label is unequal to everything
        # swarmkit compares case-insensitively except for labels' values.
        if self.key.startswith(("node.labels.", "engine.labels.")):
            same = found == self.value
        else:
            same = found.lower() == self.value.lower()
        return same == self.equal


def parse_constraints(exprs: Iterable[str]) -> list[Constraint]:
    out = []
    for expr in exprs:
        for op in ("==", "!="):
            if op in expr:
                key, _, value = expr.partition(op)
                key, value = key.strip(), value.strip()
                if not key or not value or "=" in value or "!" in key:
                    raise ValueError(f"invalid constraint expression {expr!r}")
                if not (
                    key in ("node.id", "node.hostname", "node.role", "node.ip")
                    or key in ("node.platform.os", "node.platform.arch")
                    or key.startswith(("node.labels.", "engine.labels."))
                ):
                    raise ValueError(f"constraint key {key!r} is not supported")
                out.append(Constraint(key=key, equal=op == "==", value=value))
                break
        else:
            raise ValueError(f"constraint expected one operator from ==, !=: {expr!r}")
    return out


def _value(node: Mapping[str, Any], key: str) -> str | None:
    spec = node.get("Spec") or {}
    description = node.get("Description") or {}
    if key == "node.id":
        return str(node.get("ID", ""))
    if key == "node.hostname":
        return str(description.get("Hostname", ""))
    if key == "node.role":
        return str(spec.get("Role", ""))
    if key == "node.ip":
        return str((node.get("Status") or {}).get("Addr", ""))
    if key == "node.platform.os":
        return str((description.get("Platform") or {}).get("OS", ""))
    if key == "node.platform.arch":
        return str((description.get("Platform") or {}).get("Architecture", ""))
    if key.startswith("node.labels."):
        value = (spec.get("Labels") or {}).get(key[len("node.labels.") :])
        return None if value is None else str(value)
    labels = (description.get("Engine") or {}).get("Labels") or {}
    value = labels.get(key[len("engine.labels.") :])
    return None if value is None else str(value)
