"""GET /containers/{id}/stats and /top as dockerd answers them."""

from __future__ import annotations

import json
import time

import pytest

from pier.client.errors import APIError
from pier_testing.api import create, inspect, wait
from pier_testing.daemon import PierDaemon

MB = 1024 * 1024
BUSY = ["sh", "-c", "while true; do :; done"]


def _started(pier: PierDaemon, cmd: list[str], **host_config: object) -> str:
    cid = create(pier.client, cmd, host_config=host_config or None)
    pier.client.post(f"/containers/{cid}/start")
    return cid


def _stats(pier: PierDaemon, cid: str, **params: object) -> dict:  # type: ignore[type-arg]
    resp = pier.client.request("GET", f"/containers/{cid}/stats", params=params)
    lines = resp.read().decode().splitlines()
    assert len(lines) == 1
    return dict(json.loads(lines[0]))


def test_no_stream_has_a_previous_sample(pier: PierDaemon) -> None:
    cid = _started(pier, BUSY, Memory=64 * MB, PidsLimit=30)
    s = _stats(pier, cid, stream=0)
    assert s["id"] == cid
    assert s["name"] == inspect(pier.client, cid)["Name"]
    assert s["preread"] != "0001-01-01T00:00:00Z" and s["read"] > s["preread"]
    cpu, pre = s["cpu_stats"], s["precpu_stats"]
    assert cpu["cpu_usage"]["total_usage"] > pre["cpu_usage"]["total_usage"] > 0
    assert cpu["system_cpu_usage"] > pre["system_cpu_usage"]
    assert cpu["online_cpus"] >= 1
    # A busy loop over ~1 s: well above a tenth of a cpu.
    busy = (cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]) / 1e9
    assert busy > 0.1
    memory = s["memory_stats"]
    assert memory["limit"] == 64 * MB
    assert 0 < memory["usage"] < 64 * MB
    assert isinstance(memory["stats"], dict) and memory["stats"]
    assert s["pids_stats"] == {"current": 2, "limit": 30} or s["pids_stats"]["limit"] == 30
    assert "io_service_bytes_recursive" in s["blkio_stats"]


def test_one_shot_has_none(pier: PierDaemon) -> None:
    cid = _started(pier, ["sleep", "600"])
    s = _stats(pier, cid, stream=0, **{"one-shot": 1})
    assert s["preread"] == "0001-01-01T00:00:00Z"
    assert s["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert "system_cpu_usage" not in s["precpu_stats"]
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] > 0


def test_stream_sends_one_frame_a_second(pier: PierDaemon) -> None:
    cid = _started(pier, ["sleep", "600"])
    resp = pier.client.request("GET", f"/containers/{cid}/stats", params={"stream": 1})
    frames = []
    started = time.monotonic()
    for line in resp.iter_lines():
        frames.append(json.loads(line))
        if len(frames) == 3:
            break
    elapsed = time.monotonic() - started
    resp.close()
    assert frames[1]["preread"] == frames[0]["read"]
    assert frames[2]["precpu_stats"] == frames[1]["cpu_stats"]
    assert elapsed >= 1.5  # three frames: two intervals of a second


def test_stopped_container_gets_empty_stats(pier: PierDaemon) -> None:
    cid = create(pier.client, ["true"])
    s = _stats(pier, cid, stream=0)
    assert s["read"] == "0001-01-01T00:00:00Z"
    assert s["memory_stats"] == {} and s["pids_stats"] == {}
    assert s["id"] == cid


def test_stream_and_one_shot_is_400(pier: PierDaemon) -> None:
    cid = create(pier.client, ["true"])
    with pytest.raises(APIError) as err:
        _stats(pier, cid, stream=1, **{"one-shot": 1})
    assert err.value.status == 400
    assert err.value.message == "cannot have stream=true and one-shot=true"


def test_unknown_is_404(pier: PierDaemon) -> None:
    with pytest.raises(APIError) as err:
        _stats(pier, "nope", stream=0)
    assert err.value.status == 404


def test_top_lists_the_container_processes(pier: PierDaemon) -> None:
    cid = _started(pier, ["sh", "-c", "sleep 600 & sleep 601; true"])
    deadline = time.monotonic() + 10
    while True:
        top = pier.client.get_json(f"/containers/{cid}/top")
        # Until the forked shell has exec'd sleep, it shows as a second `sh -c`.
        shown = sorted(p[-1] for p in top["Processes"])
        if shown[1:] == ["sleep 600", "sleep 601"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert top["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    commands = sorted(p[-1] for p in top["Processes"])
    # ps (as dockerd runs it, without a terminal) cuts its lines at 80 columns.
    assert commands[0].startswith("sh -c sleep 600 & sleep 601")
    assert commands[1:] == ["sleep 600", "sleep 601"]
    pid = inspect(pier.client, cid)["State"]["Pid"]
    assert str(pid) in [p[1] for p in top["Processes"]]


def test_top_passes_ps_args(pier: PierDaemon) -> None:
    cid = _started(pier, ["sleep", "600"])
    top = pier.client.get_json(f"/containers/{cid}/top", ps_args="-o pid,comm")
    assert top["Titles"] == ["PID", "COMMAND"]
    assert [p[1] for p in top["Processes"]] == ["sleep"]


@pytest.mark.parametrize(
    ("state", "status", "message"),
    [("created", 409, "is not running"), ("bad-args", 400, 'specifying "user=PID" is not allowed')],
    ids=["not-running", "bad-args"],
)
def test_top_refusals(pier: PierDaemon, state: str, status: int, message: str) -> None:
    cid = create(pier.client, ["sleep", "600"])
    params = {}
    if state == "bad-args":
        pier.client.post(f"/containers/{cid}/start")
        params = {"ps_args": "-o pid,user= user=PID"}
    with pytest.raises(APIError) as err:
        pier.client.get_json(f"/containers/{cid}/top", **params)
    assert err.value.status == status
    assert message in err.value.message


def test_top_event(pier: PierDaemon) -> None:
    since = time.time()
    cid = _started(pier, ["sleep", "600"])
    pier.client.get_json(f"/containers/{cid}/top")
    resp = pier.client.request(
        "GET",
        "/events",
        params={
            "since": f"{since - 0.001:.3f}",
            # Rounded to the millisecond, "now" could fall before an event of this one.
            "until": f"{time.time() + 0.001:.3f}",
            "filters": '{"event":["top"]}',
        },
    )
    assert [json.loads(x)["Action"] for x in resp.read().decode().splitlines()] == ["top"]
    pier.client.post(f"/containers/{cid}/kill")
    wait(pier.client, cid)
