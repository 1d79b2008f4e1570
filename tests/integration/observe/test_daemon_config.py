"""daemon.json's metrics-addr (Prometheus metrics), log-driver and log-opts."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from pier_testing.api import create, inspect, wait
from pier_testing.daemon import PierDaemon
from pier_testing.ports import free_port


@pytest.fixture
def configured(pier: PierDaemon) -> Iterator[tuple[PierDaemon, dict[str, Any]]]:
    """The module's pierd restarted with extra daemon.json keys (set by the test
    through the yielded dict before it calls `apply`), restored afterwards."""
    original = pier.config_file.read_text()
    extra: dict[str, Any] = {}

    def apply() -> None:
        pier.stop()
        pier.config_file.write_text(json.dumps({**json.loads(original), **extra}))
        pier.start()

    extra["apply"] = apply
    try:
        yield pier, extra
    finally:
        pier.remove_all_containers()
        pier.stop()
        pier.config_file.write_text(original)
        pier.start()


def _apply(extra: dict[str, Any], **keys: Any) -> None:
    apply = extra.pop("apply")
    extra.update(keys)
    apply()


def test_metrics(configured: tuple[PierDaemon, dict[str, Any]]) -> None:
    pier, extra = configured
    port = free_port()
    _apply(extra, **{"metrics-addr": f":{port}"})
    cid = create(
        pier.client,
        ["sh", "-c", "while true; do :; done"],
        name="m1",
        Healthcheck={"Test": ["CMD", "true"], "Interval": 100_000_000},
        host_config={"Memory": 64 * 1024 * 1024},
    )
    pier.client.post(f"/containers/{cid}/start")
    flaky = create(
        pier.client, ["sh", "-c", "exit 1"], name="m2",
        host_config={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 1}},
    )  # fmt: skip
    pier.client.post(f"/containers/{flaky}/start")
    deadline = time.monotonic() + 20
    while (
        inspect(pier.client, flaky)["RestartCount"] < 1
        or inspect(pier.client, flaky)["State"]["Running"]
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    while (inspect(pier.client, cid)["State"].get("Health") or {}).get("Status") != "healthy":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            values[key] = float(value)
    labels = f'id="{cid}",image="busybox",name="m1"'
    assert values[f"pier_container_cpu_usage_seconds_total{{{labels}}}"] > 0
    assert 0 < values[f"pier_container_memory_usage_bytes{{{labels}}}"] < 64 * 1024 * 1024
    assert values[f"pier_container_memory_limit_bytes{{{labels}}}"] == 64 * 1024 * 1024
    assert values[f'pier_container_health_status{{{labels},status="healthy"}}'] == 1
    flaky_labels = f'id="{flaky}",image="busybox",name="m2"'
    assert values[f"pier_container_restarts_total{{{flaky_labels}}}"] == 1
    assert values['engine_daemon_container_states_containers{state="running"}'] == 1
    assert values['engine_daemon_container_states_containers{state="stopped"}'] == 1
    assert values["engine_daemon_health_checks_total"] >= 1
    assert values["engine_daemon_events_total"] >= 4
    inspected = [
        k for k in values
        if k.startswith("pier_http_requests_total{") and "/containers/{id}/json" in k
        and 'status="200"' in k
    ]  # fmt: skip
    assert inspected and sum(values[k] for k in inspected) >= 2
    assert any(k.startswith("pier_http_request_duration_seconds_bucket{") for k in values)
    # Loopback only, as no host was named: the listening socket is 127.0.0.1's.
    listening = set()
    with open("/proc/net/tcp") as fh:
        for line in fh.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hexport = local.partition(":")
            if state == "0A" and int(hexport, 16) == port:
                listening.add(address)
    assert listening == {"0100007F"}


def test_log_driver_and_opts_from_daemon_json(
    configured: tuple[PierDaemon, dict[str, Any]],
) -> None:
    pier, extra = configured
    _apply(extra, **{"log-driver": "local", "log-opts": {"max-size": "1m"}})
    cid = create(pier.client, ["echo", "hi"])
    assert inspect(pier.client, cid)["HostConfig"]["LogConfig"] == {
        "Type": "local",
        "Config": {"max-size": "1m"},
    }
    other = create(pier.client, ["true"], host_config={"LogConfig": {"Type": "json-file"}})
    assert inspect(pier.client, other)["HostConfig"]["LogConfig"] == {
        "Type": "json-file",
        "Config": {},
    }
    pier.client.post(f"/containers/{cid}/start")
    assert wait(pier.client, cid) == 0
    info = pier.client.get_json("/info")
    assert info["LoggingDriver"] == "local"
