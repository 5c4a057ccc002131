"""Resilience for outbound calls: exponential backoff with full jitter, circuit breakers."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import Final

from prometheus_client import Gauge

__all__ = [
    "BREAKER_STATE",
    "BreakerState",
    "CircuitBreaker",
    "backoff",
    "backoff_ceiling",
]


def backoff_ceiling(attempt: int, base: float, cap: float) -> float:
    """The largest delay `backoff` may return for `attempt`: min(cap, base * 2**(attempt-1))."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be positive")
    # Past 2**63 the float is infinite anyway; stop early so huge attempts stay cheap.
    exponent = min(attempt - 1, 64)
    return min(cap, base * 2.0**exponent)


def backoff(
    attempt: int,
    base: float,
    cap: float,
    *,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry `attempt` (1 = the first retry): "full jitter".

    A uniform draw from [0, min(cap, base * 2**(attempt-1))). Full jitter spreads the
    retries of many senders that failed together (a relay restart) evenly over the
    window instead of letting them return in waves, at the cost of an occasional
    short wait; callers that need a floor (RFC 5321 asks for about 30 minutes
    between SMTP attempts) add it themselves."""
    return rand() * backoff_ceiling(attempt, base, cap)


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


# 0 closed, 1 half-open, 2 open: alert on `max_over_time(...) == 2`.
_STATE_VALUES: Final = {BreakerState.closed: 0, BreakerState.half_open: 1, BreakerState.open: 2}

BREAKER_STATE: Final = Gauge(
    "maily_circuit_breaker_state",
    "State of a circuit breaker per destination: 0 closed, 1 half-open, 2 open.",
    ["breaker"],
)


class CircuitBreaker:
    """Stops calling a destination that keeps failing, and probes it after a cooldown.

    Closed: calls go through. After `failure_threshold` consecutive failures, or when
    at least `failure_rate` of the last `window` calls failed (once `window` calls have
    been seen), it opens: `allow()` says no until `cooldown_seconds` have passed. Then
    it is half-open and lets exactly one trial call through; that call's success closes
    it, its failure opens it for another cooldown.

    One breaker lives in one process (per transport and destination); it is not shared
    through Redis, because each replica sees the destination from its own network
    position and must react within one call, not one round trip."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        failure_rate: float | None = None,
        window: int = 20,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if failure_rate is not None and not 0 < failure_rate <= 1:
            raise ValueError("failure_rate must be in (0, 1]")
        if window < 1:
            raise ValueError("window must be at least 1")
        if cooldown_seconds < 0:
            raise ValueError("cooldown_seconds must not be negative")
        self.name = name
        self.failure_threshold = failure_threshold
        self.failure_rate = failure_rate
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._state = BreakerState.closed
        self._consecutive_failures = 0
        # Recent outcomes (True = failure), only kept when a failure rate is used.
        self._recent: deque[bool] = deque(maxlen=window)
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._trial_started_at = 0.0
        self._publish()

    @property
    def state(self) -> BreakerState:
        """The state now; an open breaker whose cooldown is over reads as half-open."""
        if (
            self._state is BreakerState.open
            and self._clock() - self._opened_at >= self.cooldown_seconds
        ):
            self._state = BreakerState.half_open
            self._trial_in_flight = False
            self._publish()
        return self._state

    @property
    def retry_after(self) -> float:
        """Seconds until an open breaker lets a trial through; 0 when not open."""
        if self.state is not BreakerState.open:
            return 0.0
        return max(0.0, self.cooldown_seconds - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """Whether a call may go out now. In half-open state the first caller gets the
        trial and must report its outcome; the others are refused until it does."""
        state = self.state
        if state is BreakerState.closed:
            return True
        if state is BreakerState.half_open and (
            not self._trial_in_flight
            # A trial that never reported (its task was cancelled) must not keep the
            # breaker half-open forever.
            or self._clock() - self._trial_started_at >= max(self.cooldown_seconds, 1.0)
        ):
            self._trial_in_flight = True
            self._trial_started_at = self._clock()
            return True
        return False

    def record_success(self) -> None:
        self._consecutive_failures = 0
        if self.failure_rate is not None:
            self._recent.append(False)
        if self._state is not BreakerState.closed:
            self._state = BreakerState.closed
            self._trial_in_flight = False
            self._recent.clear()
            self._publish()

    def record_failure(self) -> None:
        self._consecutive_failures += 1
        if self.failure_rate is not None:
            self._recent.append(True)
        if self._state is BreakerState.half_open or self._should_open():
            self._open()

    def reset(self) -> None:
        """Back to closed, forgetting history (an operator fixed the destination)."""
        self._state = BreakerState.closed
        self._consecutive_failures = 0
        self._recent.clear()
        self._trial_in_flight = False
        self._publish()

    def _should_open(self) -> bool:
        if self._state is not BreakerState.closed:
            return False
        if self._consecutive_failures >= self.failure_threshold:
            return True
        if self.failure_rate is not None and len(self._recent) == self._recent.maxlen:
            return sum(self._recent) / len(self._recent) >= self.failure_rate
        return False

    def _open(self) -> None:
        self._state = BreakerState.open
        self._opened_at = self._clock()
        self._trial_in_flight = False
        self._publish()

    def _publish(self) -> None:
        BREAKER_STATE.labels(self.name).set(_STATE_VALUES[self._state])
