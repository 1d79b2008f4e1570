"""Every time Pier writes or reads, in one place.

Docker's wire format is Go's RFC 3339: `time.RFC3339Nano` (UTC, trailing zeros of the
fraction dropped) in inspect and image JSON, `RFC3339NanoFixed` (always nine digits)
for log timestamps, and `0001-01-01T00:00:00Z` for "never". The CLI shows local times
in Go's `Time.String()`, RFC 3339 and ANSI C layouts.

Only the `time` module is imported: the CLI's start-up path uses this module, and
`datetime` or `calendar` would cost it milliseconds.
"""

from __future__ import annotations

import time

ZERO = "0001-01-01T00:00:00Z"
_NS = 1_000_000_000


def format_ns(ns: int, *, fixed: bool = False) -> str:
    """RFC 3339 in UTC of a Unix time in nanoseconds (`fixed`: nine fraction digits)."""
    seconds, nanos = divmod(ns, _NS)
    t = time.gmtime(seconds)
    base = (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )
    if fixed:
        return f"{base}.{nanos:09d}Z"
    frac = f"{nanos:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def now() -> str:
    """The current time as Docker writes it (RFC3339Nano, UTC)."""
    return format_ns(time.time_ns())


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_ns(text: str) -> int:
    """Unix nanoseconds of an RFC 3339 time: `Z` or a numeric offset (`+01:00`,
    `+0100`), a fraction of any length, `T` or a space between date and time.
    ValueError when `text` is not such a time."""
    text = text.strip()
    if len(text) < 19 or text[10] not in "Tt ":
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    try:
        year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
        hour, minute, sec = int(text[11:13]), int(text[14:16]), int(text[17:19])
    except ValueError:
        raise ValueError(f"not an RFC 3339 time: {text!r}") from None
    if text[4] != "-" or text[7] != "-" or text[13] != ":" or text[16] != ":":
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and sec < 61):
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    rest = text[19:]
    nanos = 0
    if rest.startswith("."):
        digits = len(rest) - len(rest[1:].lstrip("0123456789")) - 1
        if digits == 0:
            raise ValueError(f"not an RFC 3339 time: {text!r}")
        nanos = int(rest[1 : 1 + digits][:9].ljust(9, "0"))
        rest = rest[1 + digits :]
    offset = 0
    if rest in ("Z", "z"):
        pass
    elif rest[:1] in ("+", "-") and len(rest) in (5, 6):
        hh, mm = rest[1:3], rest[-2:]
        if not (hh.isdigit() and mm.isdigit()) or (len(rest) == 6 and rest[3] != ":"):
            raise ValueError(f"not an RFC 3339 time: {text!r}")
        offset = (int(hh) * 3600 + int(mm) * 60) * (1 if rest[0] == "+" else -1)
    else:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec
    return (seconds - offset) * _NS + nanos


def parse_seconds(text: str) -> float:
    """Unix seconds of an RFC 3339 time; 0 when empty or unparsable (an image whose
    `created` is missing sorts as the oldest, as in Docker)."""
    try:
        return parse_ns(text) / _NS
    except ValueError:
        return 0.0


def parse_api_time(text: str) -> int | None:
    """`since`/`until` as the Engine API takes them, in nanoseconds: Unix seconds with
    an optional fraction (`1700000000.5`, what the docker CLI sends), or RFC 3339.
    "" and "0" mean no bound. ValueError otherwise."""
    text = text.strip()
    if not text or text == "0":
        return None
    seconds, dot, frac = text.partition(".")
    if seconds.lstrip("-").isdigit() and (not dot or frac.isdigit()):
        return int(seconds) * _NS + int((frac or "0")[:9].ljust(9, "0"))
    return parse_ns(text)


def unix_fraction(seconds: float) -> str:
    """A Unix time as the docker CLI sends `since`/`until`: `1700000000.500000000`."""
    whole = int(seconds // 1)
    return f"{whole}.{round((seconds - whole) * 1e9) % _NS:09d}"


# -- local times, as the docker CLI prints them ----------------------------------------


def local_rfc3339(seconds: float) -> str:
    """Go's RFC 3339 in local time, whole seconds (`2026-11-22T11:53:04Z` in UTC)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(int(seconds)))
    if stamp.endswith("+0000"):
        return stamp[:-5] + "Z"
    return stamp[:-2] + ":" + stamp[-2:]


def go_string(seconds: float) -> str:
    """Go's `time.Time.String()` in local time: `2026-11-22 11:53:04 +0000 UTC`."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(int(seconds)))


def ansic(seconds: float) -> str:
    """Go's `time.ANSIC` in local time: `Sun Nov 22 11:53:04 2026`."""
    t = time.localtime(int(seconds))
    return time.strftime("%a %b ", t) + f"{t.tm_mday:2d}" + time.strftime(" %H:%M:%S %Y", t)
