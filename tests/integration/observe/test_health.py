"""Health checks: probes as execs, State.Health as dockerd keeps it, events, ps."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from pier.client.errors import APIError
from pier_testing.api import create, demux, inspect
from pier_testing.daemon import PierDaemon

MS = 1_000_000
SEC = 1_000_000_000


def _check(test: list[str], **kw: int) -> dict[str, Any]:
    return {"Test": test, "Interval": kw.pop("interval", 200 * MS), **kw}


def _start(
    pier: PierDaemon, health: dict[str, Any], cmd: list[str] | None = None, **kw: Any
) -> str:
    cid = create(pier.client, cmd or ["sleep", "600"], Healthcheck=health, **kw)
    pier.client.post(f"/containers/{cid}/start")
    return cid


def _health_when(pier: PierDaemon, cid: str, status: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        health = inspect(pier.client, cid)["State"].get("Health")
        if health and health["Status"] == status:
            return dict(health)
        if time.monotonic() > deadline:
            raise AssertionError(f"health never {status}: {health}")
        time.sleep(0.05)


def test_reaches_healthy(pier: PierDaemon) -> None:
    cid = _start(pier, _check(["CMD-SHELL", "echo ok; echo err >&2"]))
    assert inspect(pier.client, cid)["State"]["Health"]["Status"] in ("starting", "healthy")
    health = _health_when(pier, cid, "healthy")
    assert health["FailingStreak"] == 0
    entry = health["Log"][-1]
    assert entry["ExitCode"] == 0
    assert entry["Output"] == "ok\nerr\n" or sorted(entry["Output"].split()) == ["err", "ok"]
    assert entry["End"] >= entry["Start"]
    [row] = pier.client.get_json("/containers/json", filters=json.dumps({"id": [cid]}))
    assert row["Status"].endswith("(healthy)")


def test_unhealthy_after_retries_and_log_keeps_five(pier: PierDaemon) -> None:
    cid = _start(pier, _check(["CMD", "sh", "-c", "echo nope; exit 3"], Retries=2))
    health = _health_when(pier, cid, "unhealthy")
    assert health["FailingStreak"] >= 2
    assert health["Log"][-1] == {**health["Log"][-1], "ExitCode": 3, "Output": "nope\n"}
    deadline = time.monotonic() + 20
    while len(inspect(pier.client, cid)["State"]["Health"]["Log"]) < 6:
        health = inspect(pier.client, cid)["State"]["Health"]
        if len(health["Log"]) == 5 and health["FailingStreak"] >= 6:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(inspect(pier.client, cid)["State"]["Health"]["Log"]) == 5


def test_timeout_is_exit_minus_one(pier: PierDaemon) -> None:
    cid = _start(pier, _check(["CMD-SHELL", "echo slow; sleep 5"], Timeout=300 * MS, Retries=1))
    health = _health_when(pier, cid, "unhealthy")
    entry = health["Log"][-1]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == "Health check exceeded timeout (300ms): slow\n"


def test_start_period_failures_do_not_count(pier: PierDaemon) -> None:
    cid = _start(
        pier,
        _check(
            ["CMD-SHELL", "test -e /tmp/ready"],
            Retries=1,
            StartPeriod=60 * SEC,
            StartInterval=100 * MS,
        ),
    )
    deadline = time.monotonic() + 20
    while len(inspect(pier.client, cid)["State"]["Health"]["Log"]) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    health = inspect(pier.client, cid)["State"]["Health"]
    assert (health["Status"], health["FailingStreak"]) == ("starting", 0)
    [row] = pier.client.get_json("/containers/json", filters=json.dumps({"id": [cid]}))
    assert row["Status"].endswith("(health: starting)")
    exec_id = pier.client.post_json(f"/containers/{cid}/exec", {"Cmd": ["touch", "/tmp/ready"]})
    pier.client.post_json(f"/exec/{exec_id['Id']}/start", {"Detach": True})
    _health_when(pier, cid, "healthy")


def test_events_and_ps_filter(pier: PierDaemon) -> None:
    since = time.time()
    good = _start(pier, _check(["CMD", "true"]), name="good")
    bad = _start(pier, _check(["CMD", "false"], Retries=1), name="bad")
    plain = create(pier.client, ["sleep", "600"], name="plain")
    pier.client.post(f"/containers/{plain}/start")
    _health_when(pier, good, "healthy")
    _health_when(pier, bad, "unhealthy")

    def names(health: str) -> list[str]:
        rows = pier.client.get_json("/containers/json", filters=json.dumps({"health": [health]}))
        return [r["Names"][0] for r in rows]

    assert names("healthy") == ["/good"]
    assert names("unhealthy") == ["/bad"]
    assert names("none") == ["/plain"]
    with pytest.raises(APIError) as err:
        names("sick")
    assert err.value.status == 400
    assert err.value.message == (
        "invalid filter 'health=sick': invalid value for health (sick): must be one of "
        "none, starting, healthy, unhealthy"
    )
    resp = pier.client.request(
        "GET",
        "/events",
        params={
            "since": f"{since - 0.001:.3f}",
            "until": f"{time.time() + 0.001:.3f}",
            "filters": json.dumps({"event": ["health_status"]}),
        },
    )
    seen = {
        (json.loads(x)["Actor"]["Attributes"]["name"], json.loads(x)["Action"])
        for x in resp.read().decode().splitlines()
    }
    assert seen == {("good", "health_status: healthy"), ("bad", "health_status: unhealthy")}
    # The probes are execs, with their events.
    resp = pier.client.request(
        "GET",
        "/events",
        params={
            "since": f"{since - 0.001:.3f}",
            "until": f"{time.time() + 0.001:.3f}",
            "filters": json.dumps({"container": ["good"], "event": ["exec_create"]}),
        },
    )
    actions = {json.loads(x)["Action"] for x in resp.read().decode().splitlines()}
    assert actions == {"exec_create: true"}


def test_stop_makes_unhealthy_and_start_resets(pier: PierDaemon) -> None:
    cid = _start(pier, _check(["CMD", "true"]))
    _health_when(pier, cid, "healthy")
    pier.client.post(f"/containers/{cid}/stop", t=0)
    health = inspect(pier.client, cid)["State"]["Health"]
    deadline = time.monotonic() + 10
    while health["Status"] != "unhealthy":
        assert time.monotonic() < deadline
        time.sleep(0.05)
        health = inspect(pier.client, cid)["State"]["Health"]
    kept = health["Log"]
    pier.client.post(f"/containers/{cid}/start")
    health = _health_when(pier, cid, "healthy")
    # The log is kept across the restart; the failing streak and status are reset.
    assert kept[-1] in health["Log"]


def test_image_check_applies_and_no_healthcheck_disables(pier: PierDaemon) -> None:
    base = create(pier.client, ["true"])
    image = "hc-image:1"
    pier.client.post(
        "/commit",
        container=base,
        repo="hc-image",
        tag="1",
        changes='HEALTHCHECK --interval=200ms --retries=1 CMD ["false"]',
    )
    try:
        cid = create(pier.client, ["sleep", "600"], image=image)
        pier.client.post(f"/containers/{cid}/start")
        assert _health_when(pier, cid, "unhealthy")["Log"][-1]["ExitCode"] == 1
        # A partial check takes the rest from the image (moby's merge): here the test.
        partial = _start(pier, {"Interval": 300 * MS, "Retries": 2}, image=image)
        assert inspect(pier.client, partial)["Config"]["Healthcheck"]["Test"] == ["CMD", "false"]
        _health_when(pier, partial, "unhealthy")
        # --no-healthcheck: NONE, no monitor, no Health.
        off = _start(pier, {"Test": ["NONE"]}, image=image)
        assert "Health" not in inspect(pier.client, off)["State"]
    finally:
        pier.remove_all_containers()
        pier.client.request("DELETE", f"/images/{image}").read()


@pytest.mark.parametrize(
    ("health", "message"),
    [
        (
            {"Test": ["CMD", "true"], "Interval": 10},
            "Interval in Healthcheck cannot be less than 1ms",
        ),
        (
            {"Test": ["CMD", "true"], "Timeout": 10},
            "Timeout in Healthcheck cannot be less than 1ms",
        ),
        ({"Test": ["CMD", "true"], "Retries": -1}, "Retries in Healthcheck cannot be negative"),
        (
            {"Test": ["CMD", "true"], "StartPeriod": 5},
            "StartPeriod in Healthcheck cannot be less than 1ms",
        ),
    ],
    ids=["interval", "timeout", "retries", "start-period"],
)
def test_bad_checks_are_400(pier: PierDaemon, health: dict[str, Any], message: str) -> None:
    with pytest.raises(APIError) as err:
        create(pier.client, ["true"], Healthcheck=health)
    assert (err.value.status, err.value.message) == (400, message)
    assert pier.client.get_json("/containers/json", all=1) == []


def test_health_survives_a_daemon_restart(pier: PierDaemon) -> None:
    cid = _start(pier, _check(["CMD", "false"], Retries=1, interval=300 * MS))
    before = _health_when(pier, cid, "unhealthy")
    pier.kill9()
    pier.start()
    after = inspect(pier.client, cid)["State"]["Health"]
    assert after["Status"] == "unhealthy"
    assert after["Log"][: len(before["Log"])][0] == before["Log"][0]
    # Probing goes on under the new daemon.
    count = after["FailingStreak"]
    deadline = time.monotonic() + 20
    while inspect(pier.client, cid)["State"]["Health"]["FailingStreak"] <= count:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_inspect_with_health_matches_the_contract(pier: PierDaemon) -> None:
    from pathlib import Path

    from jsonschema import Draft202012Validator

    schema_file = Path(__file__).parents[2] / "compat" / "schema" / "v1.47.json"
    schema = json.loads(schema_file.read_text())
    cid = _start(pier, _check(["CMD-SHELL", "echo ok"]))
    _health_when(pier, cid, "healthy")
    validator = Draft202012Validator(
        {"$defs": schema["$defs"], **schema["responses"]["ContainerInspect"]}
    )
    errors = [e.message for e in validator.iter_errors(inspect(pier.client, cid))]
    assert errors == []


# What a process can see of how it was made: who it runs as, where, with which
# environment, capabilities, no-new-privileges flag, limits and OOM score.
_SELF = (
    'echo "$(id -u):$(id -g):$(id -G):$(pwd):$MARK:$HOSTNAME"; '
    "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; "
    "cat /proc/self/oom_score_adj; ulimit -n"
)


def test_a_probe_runs_as_an_exec_would(pier: PierDaemon) -> None:
    """Probes and execs share the spec-building and the user resolution (only the way
    to the runtime differs): what a probe sees of itself is what an exec sees."""
    cid = _start(
        pier,
        _check(["CMD-SHELL", _SELF]),
        User="nobody",
        WorkingDir="/tmp",
        Env=["MARK=probe-and-exec"],
        HostConfig={
            "CapDrop": ["ALL"],
            "CapAdd": ["NET_RAW", "CHOWN"],
            "SecurityOpt": ["no-new-privileges"],
            "OomScoreAdj": 123,
            "Ulimits": [{"Name": "nofile", "Soft": 1000, "Hard": 2000}],
            "GroupAdd": ["daemon"],
        },
    )
    probed = _health_when(pier, cid, "healthy")["Log"][-1]["Output"]
    eid = str(
        pier.client.post_json(
            f"/containers/{cid}/exec",
            {"Cmd": ["sh", "-c", _SELF], "AttachStdout": True, "AttachStderr": True},
        )["Id"]
    )
    stream = pier.client.hijack("POST", f"/exec/{eid}/start", json={"Detach": False})
    try:
        raw = b""
        while chunk := stream.recv():
            raw += chunk
    finally:
        stream.close()
    out, err = demux(raw)
    assert err == b""
    assert probed == out.decode()
    first = probed.splitlines()[0]
    assert first.startswith("65534:65534:65534 1:/tmp:probe-and-exec:"), first
    assert "CapBnd:\t0000000000002001" in probed  # CHOWN and NET_RAW only
    assert "NoNewPrivs:\t1" in probed and probed.splitlines()[-1] == "1000"
