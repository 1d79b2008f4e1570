import pytest
from pierbench import proc


class _Clock:
    """perf_counter for a listing that takes `each` seconds per call."""

    def __init__(self, each: float) -> None:
        self.now = 0.0
        self.each = each
        self.calls = 0

    def perf_counter(self) -> float:
        return self.now

    def action(self) -> None:
        self.calls += 1
        self.now += self.each


@pytest.mark.parametrize(("each", "calls"), [(0.01, 5), (10.0, 3), (100.0, 1)])
def test_a_slow_listing_is_timed_fewer_times(
    monkeypatch: pytest.MonkeyPatch, each: float, calls: int
) -> None:
    clock = _Clock(each)
    monkeypatch.setattr(proc.time, "perf_counter", clock.perf_counter)
    assert proc.median_time(clock.action, samples=5, budget=30.0) == pytest.approx(each)
    assert clock.calls == calls
