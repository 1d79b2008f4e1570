"""SIGHUP reloads daemon.json's reloadable keys and publishes `daemon reload` with
moby's attributes; an unusable file changes nothing and pierd keeps serving."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pier_testing.custom import CustomDaemon, running
from pier_testing.leaks import Scope


@pytest.fixture
def daemon(leak_scope: Scope) -> Iterator[CustomDaemon]:
    d = CustomDaemon(leak_scope, flags=[])
    with running(d, leak_scope):
        yield d


def _reloads(daemon: CustomDaemon, since: float) -> list[dict[str, Any]]:
    params = {
        "since": f"{since:.6f}",
        "until": f"{time.time() + 1:.6f}",
        "filters": json.dumps({"type": ["daemon"], "event": ["reload"]}),
    }
    resp = daemon.client.request("GET", "/events", params=params)
    return [json.loads(line) for line in resp.read().decode().splitlines()]


def _sighup(daemon: CustomDaemon) -> None:
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGHUP)


def test_sighup_reloads_and_publishes_the_event(daemon: CustomDaemon) -> None:
    config = json.loads(daemon.config_file.read_text())
    config["insecure-registries"] = ["10.9.9.9:5000"]
    config["log-level"] = "debug"
    daemon.config_file.write_text(json.dumps(config))
    since = time.time()
    _sighup(daemon)
    deadline = time.monotonic() + 30
    while not (found := _reloads(daemon, since)):
        assert time.monotonic() < deadline, daemon.log_text()
    (event,) = found
    info = daemon.client.get_json("/info")
    assert event["Type"] == "daemon" and event["Action"] == "reload"
    assert event["Actor"]["ID"] == info["ID"]
    attrs = event["Actor"]["Attributes"]
    assert attrs["debug"] == "true"
    assert attrs["insecure-registries"] == '["10.9.9.9:5000"]'
    assert attrs["registry-mirrors"] == "[]"
    assert attrs["name"] == info["Name"]


def test_an_unusable_file_changes_nothing(daemon: CustomDaemon) -> None:
    since = time.time()
    daemon.config_file.write_text("{not json")
    _sighup(daemon)
    deadline = time.monotonic() + 30
    while "Error reconfiguring the daemon" not in daemon.log_text():
        assert time.monotonic() < deadline, daemon.log_text()
    assert daemon.client.ping().status == 200
    assert _reloads(daemon, since) == []
