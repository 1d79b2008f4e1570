"""The container state machine and the restart policy decisions (pure logic)."""

from __future__ import annotations

import pytest

from pier import timefmt
from pier.containers import restartpolicy
from pier.containers import state as states
from pier.containers.model import RestartPolicy
from pier.containers.state import State, Status
from pier.errors import Conflict, NotModified

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:00:05Z"


def _running() -> State:
    return states.started(State(), pid=42, at=T0)


def test_a_run_and_its_exit() -> None:
    s = _running()
    assert (s.status, s.pid, s.running, s.has_process) == (Status.RUNNING, 42, True, True)
    s = states.exited(s, exit_code=3, at=T1, oom_killed=False)
    assert (s.status, s.pid, s.exit_code, s.finished_at) == (Status.EXITED, 0, 3, T1)
    assert not s.running
    assert states.started(s, pid=7, at=T1).finished_at == T1  # kept, as Docker shows it


def test_restarting_is_running_without_a_process() -> None:
    s = states.restarting(_running(), exit_code=1, at=T1, oom_killed=False)
    assert (s.status, s.running, s.has_process, s.pid) == (Status.RESTARTING, True, False, 0)
    with pytest.raises(NotModified):
        states.check_start(s)
    assert states.restart_abandoned(s).status is Status.EXITED


def test_exit_is_never_before_the_start() -> None:
    s = states.exited(
        states.started(State(), pid=1, at="2026-01-01T00:00:00.5Z"),
        exit_code=0,
        at=T0,
        oom_killed=False,
    )
    assert s.finished_at == "2026-01-01T00:00:00.5Z"


@pytest.mark.parametrize(
    ("state", "force", "message"),
    [
        (_running(), False, 'cannot remove container "/c": container is running: stop'),
        (
            states.restarting(_running(), exit_code=1, at=T1, oom_killed=False),
            False,
            "container is restarting: stop the container before removing or force remove",
        ),
        (states.paused(_running(), "id"), False, "container is paused and must be unpaused"),
        (State(status=Status.REMOVING), True, "removal of container /c is already in progress"),
    ],
    ids=["running", "restarting", "paused", "removing"],
)
def test_remove_refusals(state: State, force: bool, message: str) -> None:
    with pytest.raises(Conflict, match=message):
        states.check_remove(state, "/c", force=force)


def test_forced_remove_and_dead() -> None:
    states.check_remove(_running(), "/c", force=True)
    dead = states.dead(states.removing(State(status=Status.EXITED), "/c"), error="EBUSY")
    assert (dead.status, dead.dead, dead.error) == (Status.DEAD, True, "EBUSY")
    states.check_remove(dead, "/c", force=False)  # another rm retries
    with pytest.raises(Conflict, match="marked for removal"):
        states.check_start(dead)


def test_pause_transitions() -> None:
    paused = states.paused(_running(), "cid")
    assert (paused.status, paused.running) == (Status.PAUSED, True)
    with pytest.raises(Conflict, match="Container cid is already paused"):
        states.paused(paused, "cid")
    with pytest.raises(Conflict, match="cannot start a paused container"):
        states.check_start(paused)
    assert states.unpaused(paused, "cid").status is Status.RUNNING
    with pytest.raises(Conflict, match="Container cid is not paused"):
        states.unpaused(_running(), "cid")
    with pytest.raises(Conflict, match="Container cid is not running"):
        states.paused(State(), "cid")


def test_stop_and_kill_checks() -> None:
    with pytest.raises(NotModified):
        states.check_stop(State(status=Status.EXITED))
    with pytest.raises(Conflict, match="Container x is not running"):
        states.check_kill(State(), "x")
    states.check_stop(_running())


ALWAYS = RestartPolicy(name="always")
ON_FAILURE_2 = RestartPolicy(name="on-failure", maximum_retry_count=2)


def _decide(policy: RestartPolicy, **kw: object) -> restartpolicy.Decision:
    args: dict[str, object] = {
        "exit_code": 1,
        "stopped_by_user": False,
        "restart_count": 0,
        "ran_for": 0.0,
        "previous_delay": 0.0,
    }
    args.update(kw)
    return restartpolicy.after_exit(policy, **args)  # type: ignore[arg-type]


def test_backoff_doubles_and_resets_after_ten_seconds() -> None:
    delays = []
    delay = 0.0
    for _ in range(12):
        delay = _decide(ALWAYS, previous_delay=delay).delay
        delays.append(delay)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == 60.0
    assert _decide(ALWAYS, previous_delay=60.0, ran_for=10.0).delay == 0.1


@pytest.mark.parametrize(
    ("policy", "kw", "restart"),
    [
        (RestartPolicy(), {}, False),
        (ALWAYS, {"exit_code": 0}, True),
        (ALWAYS, {"stopped_by_user": True}, False),
        (RestartPolicy(name="unless-stopped"), {"exit_code": 0}, True),
        (ON_FAILURE_2, {"exit_code": 0}, False),
        (ON_FAILURE_2, {"restart_count": 1}, True),
        (ON_FAILURE_2, {"restart_count": 2}, False),
        (RestartPolicy(name="on-failure"), {"restart_count": 99}, True),
    ],
    ids=[
        "no",
        "always",
        "always-stopped",
        "unless-stopped",
        "on-failure-ok",
        "on-failure-retry",
        "on-failure-exhausted",
        "on-failure-unbounded",
    ],
)
def test_after_exit(policy: RestartPolicy, kw: dict[str, object], restart: bool) -> None:
    assert _decide(policy, **kw).restart is restart


@pytest.mark.parametrize(
    ("policy", "stopped", "code", "start"),
    [
        (ALWAYS, True, 0, True),
        (RestartPolicy(name="unless-stopped"), True, 0, False),
        (RestartPolicy(name="unless-stopped"), False, 0, True),
        (ON_FAILURE_2, False, 0, False),
        (ON_FAILURE_2, False, 1, True),
        (RestartPolicy(), False, 1, False),
    ],
    ids=[
        "always",
        "unless-stopped-stopped",
        "unless-stopped",
        "on-failure-ok",
        "on-failure-failed",
        "no",
    ],
)
def test_at_daemon_start(policy: RestartPolicy, stopped: bool, code: int, start: bool) -> None:
    assert (
        restartpolicy.at_daemon_start(
            policy, exit_code=code, stopped_by_user=stopped, restart_count=0
        )
        is start
    )


def test_zero_time_is_never() -> None:
    assert State().started_at == timefmt.ZERO
