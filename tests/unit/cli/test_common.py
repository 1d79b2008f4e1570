"""The CLI's shared helpers: object paths, image references, filters, docker's time
arguments."""

from __future__ import annotations

import pytest

from pier.cli.common import (
    api_timestamp,
    container_path,
    familiar,
    full_name,
    image_path,
    parse_filters,
    parse_go_duration,
    split_tag,
)
from pier.cli.main import StatusError


def test_paths_escape_names() -> None:
    assert container_path("web") == "/containers/web"
    assert container_path("a b", "json") == "/containers/a%20b/json"
    # An image reference keeps its separators, as the docker CLI sends it.
    assert image_path("reg.io:5000/a/b:1", "json") == "/images/reg.io:5000/a/b:1/json"
    assert image_path("a@sha256:00") == "/images/a@sha256:00"
    assert image_path("a b") == "/images/a%20b"


@pytest.mark.parametrize(
    ("ref", "split", "familiar_ref", "full"),
    [("busybox", ("busybox", ""), "busybox:latest", "docker.io/library/busybox"),
     ("user/app:1", ("user/app", "1"), "user/app:1", "docker.io/user/app"),
     ("localhost:5000/app", ("localhost:5000/app", ""), "localhost:5000/app:latest",
      "localhost:5000/app"),
     ("reg.io/a/b:2", ("reg.io/a/b", "2"), "reg.io/a/b:2", "reg.io/a/b"),
     ("a@sha256:00", ("a@sha256:00", ""), "a@sha256:00", "docker.io/library/a@sha256:00")],
    ids=str,
)  # fmt: skip
def test_image_references(ref: str, split: tuple[str, str], familiar_ref: str, full: str) -> None:
    assert split_tag(ref) == split
    assert familiar(ref) == familiar_ref
    assert full_name(split[0]) == full


def test_filters() -> None:
    assert parse_filters(["status=exited", "Label=a=b", "label=c"]) == {
        "status": {"exited": True},
        "label": {"a=b": True, "c": True},
    }
    with pytest.raises(StatusError) as info:
        parse_filters(["dangling"])
    assert info.value.status == 125
    assert info.value.message == (
        'invalid argument "dangling" for "-f, --filter" flag: '
        "bad format of filter (expected name=value)"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("42m", 2520.0), ("1h30m", 5400.0), ("1.5s", 1.5), ("250ms", 0.25), ("0", 0.0),
     ("-2s", -2.0), ("3µs", 3e-6), ("", None), ("5", None), ("1d", None), ("m", None)],
    ids=str,
)  # fmt: skip
def test_go_durations(text: str, seconds: float | None) -> None:
    assert parse_go_duration(text) == (None if seconds is None else pytest.approx(seconds))


@pytest.mark.parametrize(
    ("value", "sent"),
    [("", ""),
     ("10m", "1699999400.000000000"),
     ("1700000000", "1700000000"),
     ("1700000000.5", "1700000000.5"),
     ("2023-11-14T22:13:20Z", "1700000000.000000000"),
     ("2023-11-14T22:13:20", "1700000000.000000000"),
     ("2023-11-14T23:13:20+01:00", "1700000000.000000000"),
     ("2023-11-14", "1699920000.000000000")],
    ids=str,
)  # fmt: skip
def test_api_timestamps(value: str, sent: str) -> None:
    assert api_timestamp(value, now=1_700_000_000.0) == sent


def test_api_timestamp_refuses_other_text() -> None:
    with pytest.raises(StatusError) as info:
        api_timestamp("yesterday", now=0.0)
    assert info.value.message == 'failed to parse value as time or duration: "yesterday"'
