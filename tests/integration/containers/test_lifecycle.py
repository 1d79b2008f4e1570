"""A container's life through the API: create, start, stop, kill, restart, wait, rename,
remove, and the listing, against a real pierd running real containers."""

from __future__ import annotations

import contextlib
import json
import threading
import time

import pytest

from pier.client.errors import APIError
from pier_testing.api import create, inspect, logs, run, status, wait, wait_for
from pier_testing.daemon import PierDaemon

SLEEPER = ["sleep", "600"]
# A PID 1 that exits on SIGTERM (busybox sh as PID 1 ignores it, as under Docker).
TERMINABLE = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]


def _trapping(pier: PierDaemon, traps: str) -> str:
    """A started shell that has installed `traps` (it says so on stdout first)."""
    cid = create(pier.client, ["sh", "-c", f"{traps}; echo ready; while true; do sleep 0.1; done"])
    pier.client.post(f"/containers/{cid}/start")
    wait_for(lambda: logs(pier.client, cid)[0] == b"ready\n")
    return cid


def test_run_to_completion_records_exit_code_and_times(pier: PierDaemon) -> None:
    code, out, err = run(pier.client, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (code, out, err) == (3, "out\n", "err\n")
    [c] = pier.client.get_json("/containers/json", all=1)
    state = inspect(pier.client, c["Id"])["State"]
    assert state["Status"] == "exited"
    assert state["ExitCode"] == 3
    assert state["Running"] is False
    assert state["FinishedAt"] > state["StartedAt"] > "2000"
    assert c["Status"].startswith("Exited (3) ")


def test_start_twice_is_304_and_stop_of_stopped_is_304(pier: PierDaemon) -> None:
    cid = _trapping(pier, "trap 'exit 0' TERM")
    assert status(pier.client, "POST", f"/containers/{cid}/start") == 304
    pier.client.post(f"/containers/{cid}/stop", t=5)
    assert inspect(pier.client, cid)["State"]["ExitCode"] == 0
    assert status(pier.client, "POST", f"/containers/{cid}/stop") == 304


def test_stop_escalates_to_sigkill_after_timeout(pier: PierDaemon) -> None:
    cid = create(pier.client, SLEEPER)  # sleep as PID 1 ignores SIGTERM
    pier.client.post(f"/containers/{cid}/start")
    started = time.monotonic()
    pier.client.post(f"/containers/{cid}/stop", t=1)
    assert 0.9 < time.monotonic() - started < 8
    assert inspect(pier.client, cid)["State"]["ExitCode"] == 137


def test_stop_with_signal_parameter(pier: PierDaemon) -> None:
    cid = _trapping(pier, "trap 'exit 42' USR1")
    pier.client.post(f"/containers/{cid}/stop", t=10, signal="SIGUSR1")
    assert inspect(pier.client, cid)["State"]["ExitCode"] == 42


@pytest.mark.parametrize(
    ("signal", "code"),
    [("KILL", 137), ("SIGUSR2", 12), ("15", 0)],
    ids=["name", "sig-prefix", "number"],
)
def test_kill_with_signal(pier: PierDaemon, signal: str, code: int) -> None:
    cid = _trapping(pier, "trap 'exit 12' USR2; trap 'exit 0' TERM")
    pier.client.post(f"/containers/{cid}/kill", signal=signal)
    assert wait(pier.client, cid) == code


def test_kill_of_stopped_container_is_409(pier: PierDaemon) -> None:
    cid = create(pier.client, ["true"])
    with pytest.raises(APIError) as err:
        pier.client.post(f"/containers/{cid}/kill")
    assert err.value.status == 409
    assert f"Container {cid} is not running" in str(err.value)


def test_invalid_signal_is_400(pier: PierDaemon) -> None:
    cid = create(pier.client, SLEEPER)
    pier.client.post(f"/containers/{cid}/start")
    with pytest.raises(APIError) as err:
        pier.client.post(f"/containers/{cid}/kill", signal="SIGNOPE")
    assert err.value.status == 400
    assert "Invalid signal: SIGNOPE" in str(err.value)


def test_restart_runs_again_with_the_same_rw_layer(pier: PierDaemon) -> None:
    cid = create(
        pier.client,
        [
            "sh",
            "-c",
            "echo run >> /counter; cat /counter | wc -l; "
            "trap 'exit 0' TERM; while true; do sleep 0.1; done",
        ],
    )
    pier.client.post(f"/containers/{cid}/start")
    wait_for(lambda: logs(pier.client, cid)[0].strip() == b"1")
    pier.client.post(f"/containers/{cid}/restart", t=5)
    wait_for(lambda: logs(pier.client, cid)[0].split() == [b"1", b"2"])
    assert inspect(pier.client, cid)["State"]["Running"] is True


def test_wait_conditions(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", "sleep 0.5; exit 5"])
    # not-running on a created container answers at once, as Docker does
    assert wait(pier.client, cid) == 0
    result: dict[str, int] = {}
    # /wait flushes its headers at once: when open() returns, the wait is registered.
    answers = {
        c: pier.client.open("POST", f"/containers/{cid}/wait", params={"condition": c})
        for c in ("next-exit", "removed")
    }
    assert {c: r.status for c, r in answers.items()} == {"next-exit": 200, "removed": 200}

    def waiter(condition: str) -> None:
        with contextlib.closing(answers[condition]) as resp:
            result[condition] = int(json.loads(resp.read())["StatusCode"])

    threads = [threading.Thread(target=waiter, args=(c,)) for c in ("next-exit", "removed")]
    for t in threads:
        t.start()
    pier.client.post(f"/containers/{cid}/start")
    threads[0].join(10)
    assert result["next-exit"] == 5
    assert "removed" not in result
    pier.client.delete(f"/containers/{cid}")
    threads[1].join(10)
    assert result["removed"] == 5


def test_wait_flushes_headers_before_the_exit(pier: PierDaemon) -> None:
    cid = create(pier.client, SLEEPER)
    pier.client.post(f"/containers/{cid}/start")
    resp = pier.client.open("POST", f"/containers/{cid}/wait")  # returns once headers came
    assert resp.status == 200
    pier.client.post(f"/containers/{cid}/kill")
    body = resp.read()
    resp.close()
    assert b'"StatusCode":137' in body.replace(b" ", b"")


def test_invalid_wait_condition(pier: PierDaemon) -> None:
    cid = create(pier.client, ["true"])
    with pytest.raises(APIError) as err:
        pier.client.post_json(f"/containers/{cid}/wait", condition="whenever")
    assert err.value.status == 400


def test_auto_remove_removes_after_exit(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", "exit 4"], host_config={"AutoRemove": True})
    resp = pier.client.open("POST", f"/containers/{cid}/wait", params={"condition": "removed"})
    pier.client.post(f"/containers/{cid}/start")
    assert b'"StatusCode":4' in resp.read().replace(b" ", b"")
    resp.close()
    assert pier.client.get_json("/containers/json", all=1) == []


def test_remove_running_needs_force(pier: PierDaemon) -> None:
    cid = create(pier.client, SLEEPER, name="busy")
    pier.client.post(f"/containers/{cid}/start")
    with pytest.raises(APIError) as err:
        pier.client.delete(f"/containers/{cid}")
    assert err.value.status == 409
    assert str(err.value) == (
        'cannot remove container "/busy": container is running: stop the container '
        "before removing or force remove"
    )
    pier.client.delete(f"/containers/{cid}", force=1)
    assert pier.client.get_json("/containers/json", all=1) == []


def test_rename(pier: PierDaemon) -> None:
    cid = create(pier.client, ["true"], name="before")
    create(pier.client, ["true"], name="taken")
    pier.client.post("/containers/before/rename", name="after")
    assert inspect(pier.client, "after")["Name"] == "/after"
    assert inspect(pier.client, cid)["Name"] == "/after"
    with pytest.raises(APIError) as err:
        pier.client.post("/containers/after/rename", name="taken")
    assert err.value.status == 409
    with pytest.raises(APIError) as err:
        pier.client.post("/containers/before/rename", name="x")
    assert err.value.status == 404


def test_references_by_id_prefix_and_name(pier: PierDaemon) -> None:
    cid = create(pier.client, ["true"], name="refme")
    for ref in (cid, cid[:12], cid[:5], "refme"):
        assert inspect(pier.client, ref)["Id"] == cid
    with pytest.raises(APIError) as err:
        inspect(pier.client, "nosuchthing")
    assert (err.value.status, str(err.value)) == (404, "No such container: nosuchthing")


def test_list_filters_limit_and_size(pier: PierDaemon) -> None:
    a = create(pier.client, ["sh", "-c", "exit 1"], name="alpha", Labels={"tier": "db"})
    b = create(pier.client, TERMINABLE, name="beta", Labels={"tier": "web"})
    c = create(pier.client, ["true"], name="gamma")
    pier.client.post(f"/containers/{a}/start")
    wait(pier.client, a)
    pier.client.post(f"/containers/{b}/start")

    def ids(**params: object) -> list[str]:
        return [x["Id"] for x in pier.client.get_json("/containers/json", **params)]

    assert ids() == [b]
    assert ids(all=1) == [c, b, a]  # newest first
    assert ids(all=1, limit=2) == [c, b]
    assert ids(filters='{"status":["exited"]}') == [a]
    assert ids(filters='{"status":["created"]}') == [c]
    assert ids(filters='{"exited":["1"]}') == [a]
    assert ids(all=1, filters='{"label":["tier=web"]}') == [b]
    assert ids(all=1, filters='{"label":["tier"]}') == [b, a]
    assert ids(all=1, filters='{"name":["alp"]}') == [a]
    assert ids(all=1, filters=f'{{"id":["{c[:8]}"]}}') == [c]
    assert ids(all=1, filters='{"ancestor":["busybox"]}') == [c, b, a]
    assert ids(all=1, filters='{"ancestor":["busybox:latest"]}') == [c, b, a]
    assert ids(all=1, filters='{"before":["gamma"]}') == [b, a]
    assert ids(all=1, filters='{"since":["alpha"]}') == [c, b]
    with pytest.raises(APIError) as err:
        ids(filters='{"colour":["red"]}')
    assert err.value.status == 400
    [sized] = pier.client.get_json("/containers/json", size=1, filters='{"name":["beta"]}')
    assert sized["SizeRw"] >= 0
    assert sized["Names"] == ["/beta"]
    assert sized["Command"] == "sh -c 'trap 'exit 0' TERM; while true; do sleep 0.1; done'"
    assert sized["Image"] == "busybox"
    assert sized["State"] == "running"
    assert sized["Status"].startswith("Up ")
    pier.client.post(f"/containers/{b}/stop", t=5)


def test_pause_and_unpause(pier: PierDaemon) -> None:
    cid = create(pier.client, TERMINABLE)
    pier.client.post(f"/containers/{cid}/start")
    pier.client.post(f"/containers/{cid}/pause")
    assert inspect(pier.client, cid)["State"]["Status"] == "paused"
    pier.client.post(f"/containers/{cid}/unpause")
    assert inspect(pier.client, cid)["State"]["Status"] == "running"
    pier.client.post(f"/containers/{cid}/stop", t=5)
