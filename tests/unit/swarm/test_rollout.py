"""Which ended tasks count as failures of a rolling update (swarmkit's
failureTriggersAction): only tasks the update made, of its generation, that ended by
themselves within the monitoring period after they started running."""

from __future__ import annotations

from typing import Any

from pier import timefmt
from pier.swarm.rollout import update_failures
from pier.swarm.store import Doc

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND


def task(
    tid: str, state: str, *, ran: int | None, ended: int, gen: int = 2, by_update: bool = True
) -> Doc:
    body: dict[str, Any] = {
        "_Gen": gen,
        "Status": {"State": state, "Timestamp": timefmt.format_ns(T0 + ended)},
    }
    if by_update:
        body["_ByUpdate"] = True
    if ran is not None:
        body["_RunningAt"] = timefmt.format_ns(T0 + ran)
    return Doc(id=tid, body=body, revision=1)


def test_failures_are_the_updates_tasks_ending_within_the_monitor() -> None:
    tasks = [
        task("early-exit-0", "complete", ran=0, ended=2 * SECOND),
        task("never-ran", "failed", ran=None, ended=SECOND),
        task("rejected", "rejected", ran=None, ended=SECOND),
        task("late", "failed", ran=0, ended=6 * SECOND),
        task("still-running", "running", ran=0, ended=0),
        task("shut-down", "shutdown", ran=0, ended=SECOND),
        task("restarted", "failed", ran=0, ended=SECOND, by_update=False),
        task("older-update", "failed", ran=0, ended=SECOND, gen=1),
    ]
    found = update_failures(tasks, gen=2, monitor=5 * SECOND)
    assert [t.id for t in found] == ["early-exit-0", "never-ran", "rejected"]
    # A longer monitoring period takes in the task that failed after 6 s.
    longer = update_failures(tasks, gen=2, monitor=10 * SECOND)
    assert [t.id for t in longer] == ["early-exit-0", "never-ran", "rejected", "late"]
