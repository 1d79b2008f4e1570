"""Docker's tabwriter, human sizes and durations, quoting."""

from __future__ import annotations

import pytest

from pier.cli.output import (
    bytes_size,
    ellipsis,
    go_quote,
    human_duration,
    human_size,
    since,
    tabwrite,
)


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (999, "999B"), (1000, "1kB"), (1980000, "1.98MB"), (4260000, "4.26MB"),
     (1234567890, "1.23GB"), (999500, "1e+03kB")],
    ids=str,
)  # fmt: skip
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_bytes_size() -> None:
    assert bytes_size(23.54 * 1024**3) == "23.54GiB"
    assert bytes_size(512) == "512B"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
     (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"),
     (5400, "2 hours"), (47 * 3600, "47 hours"), (48 * 3600, "2 days"), (14 * 86400, "2 weeks"),
     (60 * 86400, "2 months"), (800 * 86400, "2 years")],
    ids=str,
)  # fmt: skip
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_since() -> None:
    assert since(100.0, now=103.2) == "3 seconds ago"


def test_ellipsis() -> None:
    assert ellipsis("sh -c 'echo a very long'", 20) == "sh -c 'echo a very …"
    assert ellipsis("short", 20) == "short"


def test_go_quote() -> None:
    assert go_quote("sh -c 'x'") == "\"sh -c 'x'\""
    assert go_quote('a"b\\c\n\x01é') == '"a\\"b\\\\c\\n\\x01é"'


def test_tabwrite_docker_layout() -> None:
    text = "CONTAINER ID\tIMAGE\tPORTS\tNAMES\nabc\tbusybox\t\tt1\n"
    assert tabwrite(text) == (
        "CONTAINER ID   IMAGE     PORTS     NAMES\nabc            busybox             t1\n"
    )


def test_tabwrite_blocks_are_aligned_separately() -> None:
    # A line with fewer cells ends the column block, as in Go's tabwriter.
    text = "a\tb\nlonger-cell-here\tc\nsingle\nx\ty\n"
    assert tabwrite(text).splitlines() == [
        "a                  b",
        "longer-cell-here   c",
        "single",
        "x         y",
    ]
