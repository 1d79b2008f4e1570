"""Summaries of repeated measurements: median, min, max and per-pair ratios.

Runs alternate engines (A B C A B C ...), so sample i of one engine and sample i of
another were taken next to each other in time; their ratio cancels most of the drift
of a shared machine, which is why ratios are taken per pair and not of the medians.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    median: float
    minimum: float
    maximum: float
    count: int


def summarize(values: Sequence[float]) -> Summary | None:
    """None for no values: the caller prints n/a, never a number."""
    if not values:
        return None
    return Summary(
        median=statistics.median(values),
        minimum=min(values),
        maximum=max(values),
        count=len(values),
    )


def pair_ratios(
    numerators: Sequence[float | None], denominators: Sequence[float | None]
) -> list[float]:
    """Ratios of samples taken in the same repetition. Pairs with a gap are skipped, and so
    are pairs with a negative or zero side: a delta below the noise (memory per container
    measured from the whole system) has no meaningful ratio."""
    ratios: list[float] = []
    for num, den in zip(numerators, denominators, strict=False):
        if num is None or den is None or den <= 0 or num < 0:
            continue
        ratios.append(num / den)
    return ratios


def median_ratio(
    numerators: Sequence[float | None], denominators: Sequence[float | None]
) -> float | None:
    ratios = pair_ratios(numerators, denominators)
    return statistics.median(ratios) if ratios else None
