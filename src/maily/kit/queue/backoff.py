"""Retry delays: exponential backoff with jitter."""

from __future__ import annotations

import random
from collections.abc import Callable


def retry_delay(
    attempt: int,
    *,
    base_seconds: float,
    max_seconds: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before re-running a job whose `attempt`-th run failed.

    The ceiling doubles per attempt (base, 2·base, 4·base, … up to `max_seconds`);
    the delay is drawn between half the ceiling and all of it ("equal jitter"), so
    retries of jobs that failed together spread out, yet never come back at once
    to a destination that is struggling.
    """
    exponent = min(max(attempt - 1, 0), 60)  # 2**60 · base is past any sane cap
    ceiling = min(max_seconds, base_seconds * 2.0**exponent)
    return ceiling / 2 + rand() * ceiling / 2
