"""Signal names as Docker accepts them ("KILL", "SIGKILL", "9", "SIGRTMIN+3")."""

from __future__ import annotations

import signal as _signal

from pier.errors import InvalidParameter


def parse_signal(value: str | int | None, default: int = _signal.SIGTERM) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return value
    text = value.strip().upper()
    if text.isdigit():
        number = int(text)
        if 0 < number <= _signal.SIGRTMAX:
            return number
        raise InvalidParameter(f"Invalid signal: {value}")
    if not text.startswith("SIG"):
        text = "SIG" + text
    if text.startswith("SIGRTMIN+") or text.startswith("SIGRTMAX-"):
        base, sign, offset = text[:8], text[8], text[9:]
        if offset.isdigit():
            start = _signal.SIGRTMIN if base == "SIGRTMIN" else _signal.SIGRTMAX
            number = start + int(offset) if sign == "+" else start - int(offset)
            if _signal.SIGRTMIN <= number <= _signal.SIGRTMAX:
                return number
        raise InvalidParameter(f"Invalid signal: {value}")
    try:
        return int(_signal.Signals[text])
    except KeyError:
        raise InvalidParameter(f"Invalid signal: {value}") from None
