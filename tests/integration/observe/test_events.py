"""GET /events: no event lost under load, filters, and a history that survives a
daemon restart."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from typing import Any

from pier_testing.api import create, wait
from pier_testing.daemon import PierDaemon

N = 20


def _events(
    pier: PierDaemon, since: float, until: float, **filters: list[str]
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"since": f"{since:.6f}", "until": f"{until:.6f}"}
    if filters:
        params["filters"] = json.dumps(filters)
    resp = pier.client.request("GET", "/events", params=params)
    return [json.loads(line) for line in resp.read().decode().splitlines()]


def test_no_event_lost_with_twenty_containers_at_once(pier: PierDaemon) -> None:
    received: list[dict[str, Any]] = []
    ready = threading.Event()
    since = time.time()

    def listen() -> None:
        resp = pier.client.request(
            "GET", "/events", params={"filters": json.dumps({"type": ["container"]})}
        )
        ready.set()
        destroyed = 0
        for line in resp.iter_lines():
            event = json.loads(line)
            received.append(event)
            destroyed += event["Action"] == "destroy"
            if destroyed == N:
                resp.close()
                return

    listener = threading.Thread(target=listen)
    listener.start()
    ready.wait(10)

    def life(i: int) -> None:
        cid = create(pier.client, ["sleep", "600"], name=f"load{i}")
        pier.client.post(f"/containers/{cid}/start")
        pier.client.post(f"/containers/{cid}/stop", t=0)
        pier.client.delete(f"/containers/{cid}")

    workers = [threading.Thread(target=life, args=(i,)) for i in range(N)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    listener.join(60)
    assert not listener.is_alive()
    by_container: dict[str, list[str]] = defaultdict(list)
    for event in received:
        by_container[event["Actor"]["Attributes"]["name"]].append(event["Action"])
    assert sorted(by_container) == sorted(f"load{i}" for i in range(N))
    for actions in by_container.values():
        assert actions == ["create", "start", "kill", "die", "stop", "destroy"], actions
    # The same events are in the history, in the same order.
    history = _events(pier, since, time.time(), type=["container"])
    assert [(e["id"], e["Action"]) for e in history] == [(e["id"], e["Action"]) for e in received]


def test_filters(pier: PierDaemon) -> None:
    since = time.time()
    a = create(pier.client, ["true"], name="fa", Labels={"team": "x"})
    b = create(pier.client, ["true"], name="fb")
    for cid in (a, b):
        pier.client.post(f"/containers/{cid}/start")
        wait(pier.client, cid)
    until = time.time()
    assert {
        e["Actor"]["Attributes"]["name"] for e in _events(pier, since, until, label=["team=x"])
    } == {"fa"}
    assert {e["id"] for e in _events(pier, since, until, container=["fb"])} == {b}
    assert {e["Action"] for e in _events(pier, since, until, container=["fa"], event=["die"])} == {
        "die"
    }
    assert _events(pier, since, until, type=["image"]) == []
    assert {e["id"] for e in _events(pier, since, until, image=["busybox"], event=["start"])} == {
        a,
        b,
    }
    die = _events(pier, since, until, container=[a], event=["die"])[0]
    assert die["Actor"]["Attributes"]["exitCode"] == "0"
    assert die["status"] == "die" and die["from"] == "busybox" and die["scope"] == "local"
    assert die["time"] == die["timeNano"] // 1_000_000_000


def test_since_after_until_is_400(pier: PierDaemon) -> None:
    resp = pier.client.open("GET", "/events", params={"since": "200", "until": "100"})
    try:
        assert resp.status == 400
        assert json.loads(resp.read())["message"] == (
            "`since` time (200) cannot be after `until` time (100)"
        )
    finally:
        resp.close()


def test_history_survives_a_daemon_restart(pier: PierDaemon) -> None:
    since = time.time()
    cid = create(pier.client, ["true"], name="kept")
    until = time.time()
    pier.restart()
    events = _events(pier, since, until)
    assert [(e["Action"], e["id"]) for e in events] == [("create", cid)]
