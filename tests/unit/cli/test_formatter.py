"""ps/images contexts and table rendering, compared with docker 28's output."""

from __future__ import annotations

from typing import Any

import pytest

from pier.cli import formatter
from pier.cli.main import StatusError

NOW = 1_800_000_000.0
C: dict[str, Any] = {
    "Id": "5cc6ee97d87bd6b02a15af96c7aede2c2038a0be05914edb597db652a11f2fb9",
    "Names": ["/t4"],
    "Image": "busybox",
    "ImageID": "sha256:4835d199cef25733743130da82ad620e515ae0d6d8de00aa0278e3e24e05d28f",
    "Command": "sh -c 'echo a very long command line here'",
    "Created": NOW - 4 * 60,
    "Ports": [],
    "Labels": {"a": "b"},
    "State": "exited",
    "Status": "Exited (3) 3 seconds ago",
    "SizeRw": 0,
    "SizeRootFs": 1980000,
    "Mounts": [],
    "NetworkSettings": {"Networks": {"bridge": {}}},
}


def ctx(**over: Any) -> formatter.ContainerContext:
    return formatter.ContainerContext({**C, **over}, now=NOW)


def test_ps_default_table() -> None:
    text = formatter.render(formatter.PS_TABLE, [ctx()], formatter.CONTAINER_HEADERS, "x")
    assert text == (
        "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS"
        "                     PORTS     NAMES\n"
        '5cc6ee97d87b   busybox   "sh -c \'echo a very …"   4 minutes ago   '
        "Exited (3) 3 seconds ago             t4\n"
    )


def test_ps_template_fields_and_header() -> None:
    fmt = 'table {{.ID}}\\t{{.Label "com.x-y"}}\\t{{json .Names}}\\t{{.Size}}\\t{{.Networks}}'
    text = formatter.render(fmt, [ctx()], formatter.CONTAINER_HEADERS, "x")
    assert text.splitlines() == [
        "CONTAINER ID   x y       NAMES     SIZE                  NETWORKS",
        '5cc6ee97d87b             "t4"      0B (virtual 1.98MB)   bridge',
    ]


def test_ps_json_escapes_html() -> None:
    text = formatter.render("json", [ctx(Names=["/<x>"])], formatter.CONTAINER_HEADERS, "x")
    assert '"Names":"\\u003cx\\u003e"' in text


def test_ps_bad_field() -> None:
    with pytest.raises(StatusError) as info:
        formatter.render("{{.Bogus}}", [ctx()], formatter.CONTAINER_HEADERS, "x")
    assert info.value.message == (
        'failed to execute template: template: :1:2: executing "" at <.Bogus>: '
        "can't evaluate field Bogus in type *formatter.ContainerContext"
    )


def test_no_trunc_and_image_id() -> None:
    c = formatter.ContainerContext({**C, "Image": C["ImageID"]}, trunc=True, now=NOW)
    assert c.Image() == "4835d199cef2"
    assert formatter.ContainerContext(C, trunc=False).ID() == C["Id"]


@pytest.mark.parametrize(
    ("ports", "text"),
    [
        ([{"PrivatePort": 80, "Type": "tcp"}], "80/tcp"),
        (
            [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
             {"PrivatePort": 443, "Type": "tcp"}],
            "443/tcp, 0.0.0.0:8080->80/tcp",
        ),
        (
            [{"PrivatePort": p, "Type": "tcp"} for p in (7000, 7001, 7002)],
            "7000-7002/tcp",
        ),
        ([{"IP": "::", "PrivatePort": 80, "PublicPort": 81, "Type": "udp"}], "[::]:81->80/udp"),
    ],
    ids=["exposed", "published", "range", "ipv6"],
)  # fmt: skip
def test_display_ports(ports: list[dict[str, Any]], text: str) -> None:
    assert formatter.display_ports(ports) == text


def test_images_rows_and_table() -> None:
    img = {
        "Id": "sha256:4835d199cef25733743130da82ad620e515ae0d6d8de00aa0278e3e24e05d28f",
        "RepoTags": ["busybox:latest", "bb:1"],
        "RepoDigests": [],
        "Created": NOW - 2,
        "Size": 1980000,
    }
    dangling = {**img, "Id": "sha256:" + "1" * 64, "RepoTags": [], "Created": 0}
    rows = formatter.image_rows([img, dangling], digests=False, trunc=True, now=NOW)
    text = formatter.render(formatter.IMAGES_TABLE, rows, formatter.IMAGE_HEADERS, "x")
    assert text.splitlines() == [
        "REPOSITORY   TAG       IMAGE ID       CREATED         SIZE",
        "busybox      latest    4835d199cef2   2 seconds ago   1.98MB",
        "bb           1         4835d199cef2   2 seconds ago   1.98MB",
        "<none>       <none>    111111111111   N/A             1.98MB",
    ]


def test_history_row() -> None:
    h = formatter.HistoryContext(
        {"Id": "<missing>", "Created": NOW - 90, "CreatedBy": "/bin/sh -c\t#(nop) " + "x" * 50,
         "Size": 0, "Comment": ""},
        trunc=True, human=True, now=NOW,
    )  # fmt: skip
    assert (h.ID(), h.CreatedSince(), h.Size()) == ("<missing>", "About a minute ago", "0B")
    assert h.CreatedBy() == "/bin/sh -c #(nop) " + "x" * 26 + "…"


@pytest.mark.parametrize(
    ("given", "quiet", "expected"),
    [("", False, "table {{.A}}"), ("table", False, "table {{.A}}"), ("json", False, "json"),
     ("{{.Names}}", False, "{{.Names}}"), ("{{.Names}}", True, "{{.ID}}")],
    ids=["none", "table", "json", "template", "quiet-wins"],
)  # fmt: skip
def test_chosen_format(given: str, quiet: bool, expected: str) -> None:
    assert formatter.chosen(given, "table {{.A}}", quiet=quiet) == expected
