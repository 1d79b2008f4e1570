"""Polling with a deadline, for conditions reached by other processes (a swarm's
nodes, an etcd cluster) that no event announces to the test."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from pier.client.errors import ClientError

T = TypeVar("T")

# What a check may raise while the condition is not reached yet: a node not answering,
# a record not there, an empty list indexed or searched.
_NOT_YET = (ClientError, OSError, KeyError, IndexError, StopIteration)


def until(check: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | Exception | None = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except _NOT_YET as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what} (last: {last!r})")
