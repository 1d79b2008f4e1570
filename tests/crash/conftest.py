"""The crash suite's daemon, and its figures at the end of the run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pier_testing.crash import Checker, Ctx
from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope

_FIGURES = {"points": 0, "violations": 0, "acked": 0}


@pytest.fixture(scope="module")
def crash_ctx(leak_scope: Scope, busybox_tar: Path) -> Iterator[Ctx]:
    daemon = PierDaemon(leak_scope)
    try:
        daemon.start()
        ctx = Ctx(daemon=daemon, busybox_tar=busybox_tar)
        ctx.baseline = frozenset(Checker(ctx).remains())
        yield ctx
    finally:
        daemon.destroy()


@pytest.fixture
def record() -> Callable[..., None]:
    """Count a point in the figures printed at the end (`make crash`)."""

    def add(*, acked: bool, violations: int) -> None:
        _FIGURES["points"] += 1
        _FIGURES["acked"] += int(acked)
        _FIGURES["violations"] += violations

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES["points"]:
        terminalreporter.write_line(
            f"crash points: {_FIGURES['points']} ({_FIGURES['acked']} acknowledged before "
            f"the kill), violations: {_FIGURES['violations']}"
        )
