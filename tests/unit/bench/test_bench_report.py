import pytest
from pierbench.report import format_cell, format_ratio, format_value, render_reasons, render_table
from pierbench.results import Better, Metric, MetricSpec, Unit


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.000120, Unit.SECONDS, "120 µs"),
        (0.00456, Unit.SECONDS, "4.56 ms"),
        (0.34, Unit.SECONDS, "340 ms"),
        (11.04, Unit.SECONDS, "11.04 s"),
        (4.4 * (1 << 20), Unit.BYTES, "4.4 MiB"),
        (600 * 1024, Unit.BYTES, "600 KiB"),
        (25.3e9, Unit.BITS_PER_SECOND, "25.30 Gbit/s"),
        (100 * (1 << 20), Unit.BYTES_PER_SECOND, "100 MiB/s"),
    ],
    ids=["us", "few-ms", "ms", "s", "MiB", "KiB", "Gbit", "MiB/s"],
)
def test_format_value(value: float, unit: Unit, text: str) -> None:
    assert format_value(value, unit) == text


def test_format_cell_shows_median_and_range() -> None:
    assert format_cell([0.3, 0.1, 0.2], Unit.SECONDS) == "200 ms (100 ms .. 300 ms)"
    assert format_cell([0.2], Unit.SECONDS) == "200 ms"
    assert format_cell([], Unit.SECONDS) == "n/a"


def _metric(**samples: list[float]) -> Metric:
    spec = MetricSpec(key="x", label="run --rm busybox true", unit=Unit.SECONDS)
    return Metric(workload="run", spec=spec, samples=dict(samples))


def test_ratio_pairs_by_repetition() -> None:
    metric = _metric(pier=[0.1, 0.2, 0.3], docker=[0.2, 0.4, 0.3])
    assert format_ratio(metric, "docker") == "0.50x"


def test_ratio_is_na_when_either_side_is_na() -> None:
    metric = _metric(pier=[0.1], docker=[0.2])
    metric.mark_na("docker", "daemon died")
    assert format_ratio(metric, "docker") == "n/a"
    assert format_ratio(metric, "podman") == "n/a"


def test_render_table_rows_and_columns() -> None:
    metric = _metric(pier=[0.1, 0.1], docker=[0.2, 0.2], podman=[0.4, 0.4])
    lines = render_table([metric], ["pier", "docker", "podman"]).splitlines()
    assert lines[0] == "| workload | pier | docker | podman | pier/docker | pier/podman |"
    assert lines[1] == "| --- | --- | --- | --- | --- | --- |"
    assert lines[2] == (
        "| run --rm busybox true | 100 ms (100 ms .. 100 ms) | 200 ms (200 ms .. 200 ms) "
        "| 400 ms (400 ms .. 400 ms) | 0.50x | 0.25x |"
    )


def test_render_table_without_pier_has_no_ratio_columns() -> None:
    metric = _metric(docker=[0.2])
    assert render_table([metric], ["docker"]).splitlines()[0] == "| workload | docker |"


def test_higher_is_better_is_marked() -> None:
    spec = MetricSpec(key="t", label="TCP", unit=Unit.BITS_PER_SECOND, better=Better.HIGHER)
    metric = Metric(workload="network", spec=spec, samples={"docker": [1e9]})
    assert "| TCP ↑ |" in render_table([metric], ["docker"])


def test_na_cells_and_reasons() -> None:
    metric = _metric(docker=[0.2])
    metric.mark_na("pier", "pierd does not exist")
    table = render_table([metric], ["pier", "docker"])
    assert "| run --rm busybox true | n/a | 200 ms | n/a |" in table
    reasons = render_reasons([metric], ["pier", "docker"])
    assert reasons == "- pier, run --rm busybox true: pierd does not exist\n"


def test_reasons_group_one_cause_into_one_line() -> None:
    first = _metric()
    second = Metric(
        workload="run", spec=MetricSpec(key="y", label="other", unit=Unit.SECONDS), samples={}
    )
    for metric in (first, second):
        metric.mark_na("pier", "no bridge network")
    assert render_reasons([first, second], ["pier"]) == (
        "- pier, run --rm busybox true, other: no bridge network\n"
    )


def test_ratio_is_na_when_a_median_is_below_zero() -> None:
    metric = _metric(pier=[-0.1, -0.2, 0.3], docker=[0.2, 0.2, 0.2])
    assert format_ratio(metric, "docker") == "n/a"
