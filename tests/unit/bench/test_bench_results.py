import json

import pytest
from pierbench.engines import dechunk
from pierbench.results import Better, Metric, MetricSpec, RunResult, Unit

SPEC = MetricSpec(key="none", label="run --network none", unit=Unit.SECONDS)


def test_metric_keeps_samples_in_order() -> None:
    metric = Metric(workload="run", spec=SPEC)
    for value in (0.3, 0.1, 0.2):
        metric.add("docker", value)
    assert metric.usable("docker") == [0.3, 0.1, 0.2]
    assert metric.key == "run.none"


def test_na_wins_over_partial_samples() -> None:
    metric = Metric(workload="run", spec=SPEC)
    metric.add("pier", 0.5)
    metric.mark_na("pier", "crashed in repetition 2")
    metric.add("pier", 0.6)
    assert metric.usable("pier") == []
    doc = metric.to_json()
    assert doc["samples"] == {}
    assert doc["partial"] == {"pier": [0.5]}
    assert doc["na"] == {"pier": "crashed in repetition 2"}


def test_first_reason_is_kept() -> None:
    metric = Metric(workload="run", spec=SPEC)
    metric.mark_na("pier", "first")
    metric.mark_na("pier", "second")
    assert metric.na == {"pier": "first"}


def test_run_result_round_trips_through_json() -> None:
    result = RunResult(started="2026-01-01T00:00:00+00:00", machine={"cpus": 2})
    metric = result.metric("run", SPEC)
    metric.add("docker", 0.25)
    metric.mark_na("pier", "no pierd")
    spec = MetricSpec(key="c2c", label="TCP", unit=Unit.BITS_PER_SECOND, better=Better.HIGHER)
    result.metric("network", spec).add("podman", 1e9)
    assert result.metric("run", SPEC) is metric
    doc = json.loads(result.dumps())
    assert doc["schema"] == 1
    assert [m["key"] for m in doc["metrics"]] == ["run.none", "network.c2c"]
    back = RunResult.from_json(doc)
    assert back.to_json() == result.to_json()


def test_unknown_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="schema"):
        RunResult.from_json({"schema": 99, "started": "", "metrics": []})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"3\r\n[1,\r\n2;ext=1\r\n2]\r\n0\r\n\r\n", b"[1,2]"),
        (b"0\r\n\r\n", b""),
    ],
    ids=["one-chunk", "two-chunks-with-extension", "empty"],
)
def test_dechunk(body: bytes, expected: bytes) -> None:
    assert dechunk(body) == expected
