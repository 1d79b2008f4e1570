"""The result document: every raw figure of a run, and why any figure is missing.

One Metric is one row of the table: a quantity measured for several engines, with one
sample per repetition and engine, or a reason instead of samples (n/a).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1


class Better(StrEnum):
    LOWER = "lower"
    HIGHER = "higher"


class Unit(StrEnum):
    SECONDS = "s"
    BYTES = "B"
    BITS_PER_SECOND = "bit/s"
    BYTES_PER_SECOND = "B/s"


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    """What a workload measures: the key it reports under, and how to show it."""

    key: str
    label: str
    unit: Unit
    better: Better = Better.LOWER


@dataclass(slots=True, kw_only=True)
class Metric:
    """Samples of one quantity per engine, in repetition order, or a reason per engine."""

    workload: str
    spec: MetricSpec
    samples: dict[str, list[float]] = field(default_factory=dict)
    na: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.workload}.{self.spec.key}"

    def add(self, engine: str, value: float) -> None:
        if engine in self.na:
            return
        self.samples.setdefault(engine, []).append(value)

    def mark_na(self, engine: str, reason: str) -> None:
        """A missing figure stays missing: samples taken before the failure are kept
        in the document as partial, but the table shows n/a."""
        self.na.setdefault(engine, reason)

    def usable(self, engine: str) -> list[float]:
        if engine in self.na:
            return []
        return self.samples.get(engine, [])

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "workload": self.workload,
            "label": self.spec.label,
            "unit": str(self.spec.unit),
            "better": str(self.spec.better),
            "samples": {e: list(v) for e, v in self.samples.items() if e not in self.na},
            "partial": {e: list(v) for e, v in self.samples.items() if e in self.na and v},
            "na": dict(self.na),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Metric:
        spec = MetricSpec(
            key=str(doc["key"]).split(".", 1)[1],
            label=str(doc["label"]),
            unit=Unit(doc["unit"]),
            better=Better(doc["better"]),
        )
        samples = {e: [float(x) for x in v] for e, v in doc["samples"].items()}
        for engine, values in doc.get("partial", {}).items():
            samples[engine] = [float(x) for x in values]
        return cls(
            workload=str(doc["workload"]),
            spec=spec,
            samples=samples,
            na={e: str(r) for e, r in doc["na"].items()},
        )


@dataclass(slots=True, kw_only=True)
class RunResult:
    started: str
    finished: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    engines: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    table: str = ""

    def metric(self, workload: str, spec: MetricSpec) -> Metric:
        """The metric for (workload, spec), created on first use, in first-use order."""
        for metric in self.metrics:
            if metric.workload == workload and metric.spec.key == spec.key:
                return metric
        metric = Metric(workload=workload, spec=spec)
        self.metrics.append(metric)
        return metric

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "started": self.started,
            "finished": self.finished,
            "machine": self.machine,
            "options": self.options,
            "engines": self.engines,
            "metrics": [m.to_json() for m in self.metrics],
            "table": self.table,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RunResult:
        if doc.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"unsupported result schema {doc.get('schema')!r}")
        return cls(
            started=str(doc["started"]),
            finished=str(doc.get("finished", "")),
            machine=dict(doc.get("machine", {})),
            options=dict(doc.get("options", {})),
            engines=dict(doc.get("engines", {})),
            metrics=[Metric.from_json(m) for m in doc["metrics"]],
            table=str(doc.get("table", "")),
        )
