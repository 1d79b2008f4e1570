"""Image events of a real pierd, read back through GET /events, the docker SDK and the
docker CLI: the actions, actor IDs and attributes moby's LogImageEvent gives."""

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from pier.client.errors import APIError
from pier_testing.daemon import PierDaemon

DOCKER = "/usr/local/bin/docker"
Seen = list[tuple[str, str, dict[str, str]]]


def _docker(pier: PierDaemon, *args: str) -> str:
    out = subprocess.run(
        [DOCKER, *args], env=pier.env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _seen(events: list[dict[str, Any]]) -> Seen:
    return [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]) for e in events]


def test_import_tag_untag_delete_events(pier: PierDaemon, busybox_tar: Path) -> None:
    since = f"{time.time():.9f}"
    resp = pier.client.request(
        "POST",
        "/images/create",
        params={"fromSrc": "-", "repo": "evt", "tag": "1", "changes": "LABEL team=pier"},
        body=busybox_tar.read_bytes(),
        headers={"Content-Type": "application/x-tar"},
    )
    image_id = json.loads(resp.read().decode().splitlines()[-1])["status"]
    _docker(pier, "tag", "evt:1", "evt:2")
    assert "Untagged: evt:2" in _docker(pier, "rmi", "evt:2")
    assert f"Deleted: {image_id}" in _docker(pier, "rmi", "evt:1")
    until = f"{time.time():.9f}"

    labelled = {"team": "pier"}
    expected: Seen = [
        ("tag", image_id, {**labelled, "name": "evt:1"}),
        ("import", image_id, {**labelled, "name": image_id}),
        ("tag", image_id, {**labelled, "name": "evt:2"}),
        ("untag", image_id, {**labelled, "name": image_id}),
        ("untag", image_id, {**labelled, "name": image_id}),
        # Logged once the image is gone: no labels left to copy (as moby's).
        ("delete", image_id, {"name": image_id}),
    ]

    resp = pier.client.request(
        "GET",
        "/events",
        params={"since": since, "until": until, "filters": json.dumps({"type": ["image"]})},
    )
    raw = [json.loads(line) for line in resp.read().decode().splitlines()]
    assert _seen(raw) == expected
    assert {(e["Type"], e["scope"]) for e in raw} == {("image", "local")}

    client = docker.DockerClient(base_url=pier.host, timeout=60)
    try:
        sdk = list(client.events(since=since, until=until, decode=True, filters={"type": "image"}))
    finally:
        client.close()
    assert _seen(sdk) == expected

    out = _docker(
        pier,
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "type=image",
        "--format",
        "{{json .}}",
    )
    assert _seen([json.loads(line) for line in out.splitlines()]) == expected


def test_failed_operations_publish_nothing(pier: PierDaemon) -> None:
    since = f"{time.time():.9f}"
    busybox = pier.client.get_json("/images/busybox/json")["Id"]
    with pytest.raises(APIError) as info:
        pier.client.request(
            "POST", "/images/create", params={"fromSrc": "-"}, body=b"not a tar at all" * 100
        )
    assert info.value.status == 400
    for bad in (["tag", "nosuch", "x"], ["rmi", "nosuch"]):
        out = subprocess.run([DOCKER, *bad], env=pier.env(), capture_output=True, text=True)
        assert out.returncode == 1
    until = f"{time.time():.9f}"
    resp = pier.client.request(
        "GET",
        "/events",
        params={"since": since, "until": until, "filters": json.dumps({"type": ["image"]})},
    )
    assert resp.read() == b""
    assert pier.client.get_json("/images/busybox/json")["Id"] == busybox
