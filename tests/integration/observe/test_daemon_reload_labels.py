"""SIGHUP reloads daemon.json's `labels` as dockerd does (daemon/reload.go
reloadLabels): checked as at start, /info's Labels at once, a swarm node's
Description.Engine.Labels, and the `daemon reload` event's `labels` attribute; a file
without `labels` keeps those in effect, one with a bad label changes nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import docker
import pytest

from pier_testing.custom import CustomDaemon, running
from pier_testing.leaks import Scope

T = TypeVar("T")


@pytest.fixture
def daemon(leak_scope: Scope) -> Iterator[CustomDaemon]:
    d = CustomDaemon(leak_scope, flags=[], config={"labels": ["zone=a"]})
    with running(d, leak_scope):
        yield d


@pytest.fixture
def sdk(daemon: CustomDaemon) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=daemon.host, timeout=60)
    try:
        yield client
    finally:
        client.close()


def _until(check: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return found


def _reload(daemon: CustomDaemon, sdk: docker.DockerClient, **keys: Any) -> dict[str, str]:
    """Write `keys` over daemon.json, SIGHUP, and the reload event's attributes."""
    config = json.loads(daemon.config_file.read_text())
    config.update(keys)
    for key in [k for k, v in config.items() if v is None]:
        del config[key]
    daemon.config_file.write_text(json.dumps(config))
    since = time.time()
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGHUP)

    def reloaded() -> list[dict[str, Any]]:
        return list(
            sdk.events(
                since=since,
                until=time.time() + 1,
                filters={"type": "daemon", "event": "reload"},
                decode=True,
            )
        )

    (event,) = _until(reloaded, "the reload event")
    attributes: dict[str, str] = event["Actor"]["Attributes"]
    return attributes


def test_sighup_reloads_labels_into_info_and_the_event(
    daemon: CustomDaemon, sdk: docker.DockerClient
) -> None:
    assert sdk.info()["Labels"] == ["zone=a"]
    # Duplicates are one label, as at start (GetConflictFreeLabels); Go's encoder escapes
    # <, > and & in the event's JSON.
    attrs = _reload(daemon, sdk, labels=["zone=b", "tier=<db&x>", "zone=b", "é=ü"])
    assert sdk.info()["Labels"] == ["zone=b", "tier=<db&x>", "é=ü"]
    assert attrs["labels"] == '["zone=b","tier=\\u003cdb\\u0026x\\u003e","é=ü"]'
    assert attrs["name"] == socket.gethostname()

    # A file without `labels` keeps those in effect (moby reloads only keys it sets).
    attrs = _reload(daemon, sdk, labels=None)
    assert sdk.info()["Labels"] == ["zone=b", "tier=<db&x>", "é=ü"]
    assert attrs["labels"] == '["zone=b","tier=\\u003cdb\\u0026x\\u003e","é=ü"]'

    attrs = _reload(daemon, sdk, labels=[])
    assert sdk.info()["Labels"] == []
    assert attrs["labels"] == "[]"


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["novalue"], "bad attribute format: novalue"),
        (["com.docker.x=1"], "are reserved for internal use"),
        (["zone=a", "zone=b"], "conflict labels for zone=b and zone=a"),
    ],
)
def test_bad_labels_change_nothing(
    daemon: CustomDaemon, sdk: docker.DockerClient, labels: list[str], message: str
) -> None:
    config = json.loads(daemon.config_file.read_text())
    daemon.config_file.write_text(json.dumps({**config, "labels": labels}))
    since = time.time()
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGHUP)
    _until(lambda: message in daemon.log_text(), "the refusal logged")
    assert "Error reconfiguring the daemon" in daemon.log_text()
    assert sdk.info()["Labels"] == ["zone=a"]
    events = sdk.events(since=since, until=time.time() + 1, filters={"type": "daemon"}, decode=True)
    assert list(events) == []


def test_a_swarm_node_describes_its_reloaded_labels(
    daemon: CustomDaemon, sdk: docker.DockerClient
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    node = sdk.swarm.init(listen_addr=f"127.0.0.1:{port}", advertise_addr="127.0.0.1")
    try:

        def engine_labels() -> dict[str, str]:
            labels: dict[str, str] = sdk.nodes.get(node).attrs["Description"]["Engine"]["Labels"]
            return labels

        assert engine_labels() == {"zone": "a"}
        _reload(daemon, sdk, labels=["zone=b", "gpu=yes"])
        assert engine_labels() == {"zone": "b", "gpu": "yes"}
        # The nodes 'label' filter reads the engine labels too.
        assert [n.id for n in sdk.nodes.list(filters={"label": "gpu=yes"})] == [node]
        assert sdk.nodes.list(filters={"label": "zone=a"}) == []
    finally:
        sdk.swarm.leave(force=True)
