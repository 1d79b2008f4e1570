"""Which ended tasks count as failures of a rolling update (swarmkit's
failureTriggersAction): only tasks the update made, of its generation, that ended by
themselves within the monitoring period after they started running."""

from __future__ import annotations

from typing import Any, cast

from pier import timefmt
from pier.swarm.rollout import Rollout, completion_due, update_failures
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


def made(tid: str, at: int) -> Doc:
    return Doc(id=tid, body={"CreatedAt": timefmt.format_ns(T0 + at)}, revision=1)


def test_an_update_completes_one_period_after_its_last_task_was_made() -> None:
    # As swarmkit's updater: the period starts when the last task is made, not when it
    # runs, so the update completes before the CLI (which waits one period after it
    # sees the tasks run) returns.
    fresh = [made("a", 0), made("c", 3 * SECOND), made("b", SECOND)]
    assert completion_due(fresh, period=5 * SECOND) == T0 + 8 * SECOND
    assert completion_due([], period=5 * SECOND) == 5 * SECOND


def test_a_removed_service_leaves_no_due_update() -> None:
    # A past due time kept for a service removed mid-update would wake the
    # orchestrator at once, pass after pass.
    rollout = Rollout(store=cast(Any, None), create=cast(Any, None))
    rollout._due.update({"gone": T0, "kept": T0 + SECOND})
    rollout._next_batch["gone"] = 1.0
    rollout.forget_removed({"kept"})
    assert rollout.next_due() == T0 + SECOND
    assert "gone" not in rollout._next_batch
