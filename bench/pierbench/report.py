"""The markdown table: one row per metric, median (min-max) per engine, per-pair ratios."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from .results import Metric, Unit
from .stats import median_ratio, summarize

NA = "n/a"
BASELINE = "pier"


def format_value(value: float, unit: Unit) -> str:
    if unit is Unit.SECONDS:
        if value < 0.001:
            return f"{value * 1e6:.0f} µs"
        if value < 0.01:
            return f"{value * 1e3:.2f} ms"
        if value < 1:
            return f"{value * 1e3:.0f} ms"
        return f"{value:.2f} s"
    if unit is Unit.BYTES:
        mib = value / (1 << 20)
        return f"{mib:.1f} MiB" if abs(mib) >= 1 else f"{value / 1024:.0f} KiB"
    if unit is Unit.BYTES_PER_SECOND:
        return f"{value / (1 << 20):.0f} MiB/s"
    if unit is Unit.BITS_PER_SECOND:
        return f"{value / 1e9:.2f} Gbit/s"
    return f"{value:g}"


def format_cell(values: Sequence[float], unit: Unit) -> str:
    summary = summarize(values)
    if summary is None:
        return NA
    median = format_value(summary.median, unit)
    if summary.count == 1:
        return median
    low = format_value(summary.minimum, unit)
    high = format_value(summary.maximum, unit)
    return f"{median} ({low} .. {high})"


def format_ratio(metric: Metric, other: str) -> str:
    """Median of per-pair ratios Pier/other; samples pair up by repetition index."""
    ours = metric.usable(BASELINE)
    theirs = metric.usable(other)
    if not ours or not theirs:
        return NA
    if statistics.median(ours) <= 0 or statistics.median(theirs) <= 0:
        return NA  # a typical value below the noise floor has no meaningful ratio
    ratio = median_ratio(list(ours), list(theirs))
    return NA if ratio is None else f"{ratio:.2f}x"


def render_table(metrics: Sequence[Metric], engines: Sequence[str]) -> str:
    others = [e for e in engines if e != BASELINE]
    header = ["workload", *engines]
    if BASELINE in engines:
        header += [f"{BASELINE}/{e}" for e in others]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
    ]
    for metric in metrics:
        label = metric.spec.label
        if metric.spec.better.value == "higher":
            label += " ↑"
        row = [label]
        row += [format_cell(metric.usable(e), metric.spec.unit) for e in engines]
        if BASELINE in engines:
            row += [format_ratio(metric, e) for e in others]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def render_reasons(metrics: Sequence[Metric], engines: Sequence[str]) -> str:
    """Why each n/a is n/a, grouped so one missing feature is one line, not twenty."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for metric in metrics:
        for engine in engines:
            reason = metric.na.get(engine)
            if reason is None and not metric.usable(engine):
                reason = "not measured"
            if reason is not None:
                grouped.setdefault((engine, reason), []).append(metric.spec.label)
    lines = []
    for (engine, reason), labels in grouped.items():
        short = " ".join(reason.split())
        if len(short) > 160:
            short = short[:157] + "..."
        lines.append(f"- {engine}, {', '.join(labels)}: {short}")
    return "\n".join(lines) + ("\n" if lines else "")
