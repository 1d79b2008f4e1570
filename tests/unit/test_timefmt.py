"""The one module that writes and reads times."""

from __future__ import annotations

import pytest

from pier import timefmt


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1970-01-01T00:00:10Z", 10 * 10**9),
        ("1970-01-01T01:00:00+01:00", 0),
        ("1970-01-01T01:00:00+0100", 0),
        ("1969-12-31T23:00:00-01:00", 0),
        ("1970-01-01T00:00:01.5Z", 1_500_000_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000 * 10**9),
        ("2024-05-01T10:00:00.123456789123Z", 1_714_557_600_123_456_789),
        ("2024-02-29 12:00:00Z", 1_709_208_000 * 10**9),
        ("0001-01-01T00:00:00Z", -62_135_596_800 * 10**9),
    ],
    ids=[
        "utc",
        "offset",
        "offset-nocolon",
        "negative-offset",
        "fraction",
        "known",
        "long-fraction",
        "space-leap",
        "zero",
    ],
)
def test_parse_ns(text: str, ns: int) -> None:
    assert timefmt.parse_ns(text) == ns


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2024-05-01",
        "2024-05-01T10:00:00",
        "2024-13-01T00:00:00Z",
        "2024-05-01T10:00:00.Z",
        "2024-05-01T10:00:00+1",
        "garbage-garbage-garbage",
    ],
)
def test_parse_ns_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        timefmt.parse_ns(text)


@pytest.mark.parametrize(
    ("ns", "fixed", "text"),
    [
        (1_700_000_000 * 10**9, False, "2023-11-14T22:13:20Z"),
        (1_700_000_000_500_000_000, False, "2023-11-14T22:13:20.5Z"),
        (1_700_000_000_500_000_000, True, "2023-11-14T22:13:20.500000000Z"),
        (-62_135_596_800 * 10**9, False, timefmt.ZERO),
    ],
    ids=["whole", "trimmed", "fixed", "zero"],
)
def test_format_ns(ns: int, fixed: bool, text: str) -> None:
    assert timefmt.format_ns(ns, fixed=fixed) == text
    assert timefmt.parse_ns(text) == ns


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("", None),
        ("0", None),
        ("1700000000", 1_700_000_000_000_000_000),
        ("1700000000.5", 1_700_000_000_500_000_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000_000_000),
    ],
    ids=["empty", "zero", "seconds", "fraction", "rfc3339"],
)
def test_parse_api_time(text: str, ns: int | None) -> None:
    assert timefmt.parse_api_time(text) == ns


def test_parse_seconds_is_zero_for_garbage() -> None:
    assert timefmt.parse_seconds("") == 0.0
    assert timefmt.parse_seconds("yesterday") == 0.0
    assert timefmt.parse_seconds("1970-01-01T00:00:01.5Z") == 1.5


def test_unix_fraction() -> None:
    assert timefmt.unix_fraction(1700000000.5) == "1700000000.500000000"


def test_now_round_trips() -> None:
    assert timefmt.parse_ns(timefmt.now()) > 1_700_000_000 * 10**9
