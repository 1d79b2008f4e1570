import pytest
from pierbench.stats import Summary, median_ratio, pair_ratios, summarize


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([3.0], Summary(median=3.0, minimum=3.0, maximum=3.0, count=1)),
        ([3.0, 1.0, 2.0], Summary(median=2.0, minimum=1.0, maximum=3.0, count=3)),
        ([4.0, 1.0, 2.0, 3.0], Summary(median=2.5, minimum=1.0, maximum=4.0, count=4)),
    ],
    ids=["one", "odd", "even"],
)
def test_summarize(values: list[float], expected: Summary) -> None:
    assert summarize(values) == expected


def test_summarize_nothing_is_none_not_zero() -> None:
    assert summarize([]) is None


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [
        ([1.0, 2.0], [2.0, 4.0], [0.5, 0.5]),
        ([1.0, None, 3.0], [2.0, 2.0, None], [0.5]),
        ([1.0, 2.0], [0.0, 1.0], [2.0]),
        ([-1.0, 2.0, 1.0], [1.0, -2.0, 1.0], [1.0]),
        ([1.0, 2.0, 3.0], [1.0], [1.0]),
    ],
    ids=["pairs", "gaps-skipped", "zero-skipped", "negative-skipped", "uneven-lengths"],
)
def test_pair_ratios(
    num: list[float | None], den: list[float | None], expected: list[float]
) -> None:
    assert pair_ratios(num, den) == expected


def test_median_ratio_is_median_of_pairs_not_ratio_of_medians() -> None:
    # Drift: engine A slows down over time, B is measured next to it each time.
    a = [1.0, 2.0, 10.0]
    b = [2.0, 4.0, 10.0]
    assert median_ratio(a, b) == 0.5
    assert median_ratio([1.0], []) is None
