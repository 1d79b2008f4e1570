"""Restart policies, decided as moby's restart manager decides them (pure functions).

After an exit: `no` never restarts; `always` and `unless-stopped` restart unless the
stop came from the API; `on-failure[:N]` restarts a non-zero exit while fewer than N
restarts happened (N=0: no bound). The wait before a restart starts at 100 ms and
doubles on each restart, up to a minute, and falls back to 100 ms once a run lasted
10 s or more.

When the daemon starts, a container that is not running is started again if its
policy says so: `always` even after a stop from the API (Docker's documented rule),
`unless-stopped` only if it was not stopped that way, `on-failure` as above.
"""

from __future__ import annotations

from dataclasses import dataclass

from pier.containers.model import RestartPolicy

FIRST_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    restart: bool
    delay: float  # seconds to wait first; also the next decision's starting point


def after_exit(
    policy: RestartPolicy,
    *,
    exit_code: int,
    stopped_by_user: bool,
    restart_count: int,
    ran_for: float,
    previous_delay: float,
) -> Decision:
    delay = _next_delay(previous_delay, ran_for)
    if stopped_by_user:
        return Decision(restart=False, delay=delay)
    return Decision(restart=_wants(policy, exit_code, restart_count), delay=delay)


def at_daemon_start(
    policy: RestartPolicy, *, exit_code: int, stopped_by_user: bool, restart_count: int
) -> bool:
    if policy.name == "always":
        return True
    if policy.name == "unless-stopped":
        return not stopped_by_user
    return _wants(policy, exit_code, restart_count)


def _wants(policy: RestartPolicy, exit_code: int, restart_count: int) -> bool:
    if policy.name in ("always", "unless-stopped"):
        return True
    if policy.name == "on-failure":
        limit = policy.maximum_retry_count
        return exit_code != 0 and (limit == 0 or restart_count < limit)
    return False


def _next_delay(previous: float, ran_for: float) -> float:
    if ran_for >= RESET_AFTER or previous <= 0:
        return FIRST_DELAY
    return min(previous * 2, MAX_DELAY)
