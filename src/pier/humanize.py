"""Docker's human-readable durations (go-units HumanDuration), shared by the API's
`Status` strings and the CLI's columns. Imports nothing at module level: the CLI's
start-up path uses it."""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs the CLI 8 ms
if TYPE_CHECKING:
    from datetime import datetime


def human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def parse_time(value: str) -> datetime:
    """RFC 3339 with up to nanoseconds (Python keeps microseconds)."""
    from datetime import UTC, datetime

    text = value.rstrip("Z")
    main, _, frac = text.partition(".")
    # fromisoformat is C and a few times faster than strptime (a listing of 100
    # containers parsed 200 times at each request); it takes forms strptime's format
    # does not, so only the exact one is given to it.
    if len(main) == 19 and main[10] == "T":
        parsed = datetime.fromisoformat(main).replace(tzinfo=UTC)
    else:
        parsed = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    if frac:
        parsed = parsed.replace(microsecond=int(frac[:6].ljust(6, "0")))
    return parsed


def since(value: str, now: datetime | None = None) -> float:
    from datetime import UTC, datetime

    return ((now or datetime.now(UTC)) - parse_time(value)).total_seconds()
