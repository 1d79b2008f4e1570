"""A container's health as Docker records it (`State.Health`): the status, the run of
failed probes and the last five probe results. Plain values kept on the record, so
they survive a daemon restart; `pier.containers.health` moves them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HealthStatus(StrEnum):
    NONE = "none"  # never shown: a container without a check has no Health at all
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthResult:
    """One probe: its start and end (RFC 3339), exit code (-1: it timed out or could
    not run) and the start of its output."""

    start: str
    end: str
    exit_code: int
    output: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    status: HealthStatus = HealthStatus.STARTING
    failing_streak: int = 0
    log: tuple[HealthResult, ...] = ()
