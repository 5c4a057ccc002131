"""Backoff with full jitter and the circuit breaker."""

from __future__ import annotations

import random

import pytest
from prometheus_client import REGISTRY

from maily.kit.resilience import BreakerState, CircuitBreaker, backoff, backoff_ceiling


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_backoff_ceiling_doubles_up_to_the_cap() -> None:
    assert [backoff_ceiling(n, 1.0, 60.0) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    # Huge attempt numbers don't overflow.
    assert backoff_ceiling(10_000, 1.0, 3600.0) == 3600.0


def test_backoff_is_full_jitter_within_the_ceiling() -> None:
    rng = random.Random(7)
    for attempt in range(1, 20):
        ceiling = backoff_ceiling(attempt, 30.0, 14_400.0)
        draws = [backoff(attempt, 30.0, 14_400.0, rand=rng.random) for _ in range(200)]
        assert all(0 <= d < ceiling for d in draws)
        # Spread over the whole range, not bunched at the top (that would be "equal jitter").
        assert min(draws) < ceiling * 0.1
        assert max(draws) > ceiling * 0.9
    assert backoff(3, 2.0, 100.0, rand=lambda: 0.5) == 4.0


@pytest.mark.parametrize(("attempt", "base", "cap"), [(0, 1, 1), (1, 0, 1), (1, 1, -1)])
def test_backoff_rejects_nonsense(attempt: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError, match=r"attempt|positive"):
        backoff(attempt, base, cap)


def test_breaker_opens_after_consecutive_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        "test:consecutive", failure_threshold=3, cooldown_seconds=10, clock=clock
    )
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the run
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.closed
    assert breaker.allow()

    breaker.record_failure()
    assert breaker.state is BreakerState.open
    assert not breaker.allow()
    assert breaker.retry_after == pytest.approx(10)
    clock.now += 4
    assert breaker.retry_after == pytest.approx(6)


def test_half_open_lets_one_trial_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("test:trial", failure_threshold=1, cooldown_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 10

    assert breaker.state is BreakerState.half_open
    assert breaker.allow()
    assert not breaker.allow()  # the trial is out; others wait for its outcome
    breaker.record_success()
    assert breaker.state is BreakerState.closed
    assert breaker.allow()
    assert breaker.allow()


def test_a_failed_trial_reopens_for_a_full_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("test:reopen", failure_threshold=5, cooldown_seconds=10, clock=clock)
    for _ in range(5):
        breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure()  # one failure is enough in half-open state

    assert breaker.state is BreakerState.open
    clock.now += 9
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_a_trial_that_never_reports_does_not_wedge_the_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        "test:lost-trial", failure_threshold=1, cooldown_seconds=10, clock=clock
    )
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    clock.now += 10
    assert breaker.allow()


def test_breaker_opens_on_failure_rate() -> None:
    breaker = CircuitBreaker(
        "test:rate", failure_threshold=100, failure_rate=0.5, window=10, clock=FakeClock()
    )
    # Alternating: never 100 in a row, but half of the last ten failed.
    for i in range(9):
        breaker.record_failure() if i % 2 == 0 else breaker.record_success()
        assert breaker.state is BreakerState.closed
    # Ten seen, five failed; the rate is judged when a failure comes in.
    breaker.record_success()
    assert breaker.state is BreakerState.closed
    breaker.record_failure()
    assert breaker.state is BreakerState.open


def test_state_is_published_as_a_metric() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("test:metric", failure_threshold=1, cooldown_seconds=5, clock=clock)

    def value() -> float | None:
        return REGISTRY.get_sample_value("maily_circuit_breaker_state", {"breaker": "test:metric"})

    assert value() == 0
    breaker.record_failure()
    assert value() == 2
    clock.now += 5
    assert breaker.state is BreakerState.half_open
    assert value() == 1
    breaker.record_success()
    assert value() == 0
    breaker.record_failure()
    breaker.reset()
    assert value() == 0
