"""Send-time optimisation: when in the coming day each contact is likeliest to engage.

The model is counts, not a trained network. A contact's human opens and clicks are
counted by the contact's local hour of the week (0 = Monday 00:00-01:00 … 167 = Sunday
23:00-24:00). Those counts are smoothed twice — over neighbouring hours (a person who
reads at 8:00 reads at 7:00 and 9:00 too) and across the days of the week (Tuesday's
8:00 says something about Thursday's) — and shrunk toward the workspace's own pattern
(empirical Bayes: the workspace distribution as a Dirichlet prior worth
`prior_strength` opens), so a contact with two opens leans on the workspace and one
with forty speaks for themself. Within a send window the best hour is the one with
the largest posterior weight; a share of choices explores instead (ε-greedy, the
exploring draw following the posterior over the window), a share that shrinks as the
contact's history grows. Every draw comes from a hash of (seed, contact), so the same
campaign plans the same hours every time it is planned.

Everything here is pure and works on in-memory counts; maily.ai.insights.repository
reads them from PostgreSQL, and bench/send_time.py feeds simulated ones."""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

HOURS_PER_DAY = 24
HOURS_PER_WEEK = 7 * HOURS_PER_DAY
WINDOW_HOURS = 24
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Sparse counts: local hour of the week -> opens and clicks in that hour.
HourCounts = Mapping[int, float]


@dataclass(frozen=True, slots=True)
class SendTimeParameters:
    # The workspace pattern's weight, in opens: a contact with this many opens is
    # half their own history and half the workspace's.
    prior_strength: float = 3.0
    # Weights of the hour itself and its neighbours (±1 h, ±2 h); normalised.
    kernel: tuple[float, ...] = (4.0, 2.0, 0.5)
    # Share of the contact's smoothed weight kept on the weekday it happened on; the
    # rest is spread over the same hours of every day.
    weekday_share: float = 0.35
    # Exploration of a contact with no history; it falls as k / (k + opens).
    exploration: float = 0.1


DEFAULT_PARAMETERS = SendTimeParameters()


def hour_of_week(moment: datetime) -> int:
    """The local hour of the week of an aware or local datetime (Monday 00:00 = 0)."""
    return moment.weekday() * HOURS_PER_DAY + moment.hour


def describe_hour(how: int) -> str:
    """'Tuesday 08:00' for hour of the week 32."""
    return f"{WEEKDAYS[how // HOURS_PER_DAY]} {how % HOURS_PER_DAY:02d}:00"


@functools.cache
def _kernel(parameters: SendTimeParameters) -> tuple[tuple[int, float], ...]:
    """(offset, weight) pairs of the symmetric smoothing kernel, summing to 1; made
    once per parameter set, not once per contact planned."""
    side = parameters.kernel
    pairs = [(0, side[0])] + [(s * d, w) for d, w in enumerate(side[1:], 1) for s in (-1, 1)]
    total = sum(w for _, w in pairs)
    return tuple((d, w / total) for d, w in pairs)


def smooth(counts: HourCounts, parameters: SendTimeParameters = DEFAULT_PARAMETERS) -> list[float]:
    """Counts spread over neighbouring hours and across weekdays; keeps their total."""
    kernel = _kernel(parameters)
    keep = parameters.weekday_share
    spread = (1.0 - keep) / 7.0
    week = [0.0] * HOURS_PER_WEEK
    day = [0.0] * HOURS_PER_DAY
    for how, count in counts.items():
        if count <= 0:
            continue
        for offset, weight in kernel:
            week[(how + offset) % HOURS_PER_WEEK] += count * weight * keep
            day[(how + offset) % HOURS_PER_DAY] += count * weight * spread
    return [week[h] + day[h % HOURS_PER_DAY] for h in range(HOURS_PER_WEEK)]


def workspace_pattern(
    contacts: Iterable[HourCounts], parameters: SendTimeParameters = DEFAULT_PARAMETERS
) -> list[float]:
    """The workspace's engagement by hour of the week as a distribution (sums to 1),
    from every contact's counts. One pseudo-open per hour keeps every hour possible."""
    total: dict[int, float] = {}
    for counts in contacts:
        for how, count in counts.items():
            total[how] = total.get(how, 0.0) + count
    return pattern_from_totals(total, parameters)


def pattern_from_totals(
    totals: HourCounts, parameters: SendTimeParameters = DEFAULT_PARAMETERS
) -> list[float]:
    """`workspace_pattern` from counts already summed over the workspace."""
    smoothed = smooth(totals, parameters)
    floor = 1.0
    mass = sum(smoothed) + floor * HOURS_PER_WEEK
    return [(value + floor) / mass for value in smoothed]


def posterior(
    counts: HourCounts,
    pattern: Sequence[float],
    parameters: SendTimeParameters = DEFAULT_PARAMETERS,
) -> list[float]:
    """Dirichlet posterior weights per hour of the week: the contact's smoothed counts
    plus `prior_strength` times the workspace pattern."""
    smoothed = smooth(counts, parameters)
    k = parameters.prior_strength
    return [smoothed[h] + k * pattern[h] for h in range(HOURS_PER_WEEK)]


def uniforms(seed: str, contact_id: uuid.UUID | int | str) -> tuple[float, float]:
    """Two uniform numbers in [0, 1) fixed by (seed, contact): the exploration draws."""
    digest = hashlib.blake2b(f"{seed}:{contact_id}".encode(), digest_size=16).digest()
    scale = float(1 << 64)
    return int.from_bytes(digest[:8]) / scale, int.from_bytes(digest[8:]) / scale


def choose(
    weights: Sequence[float] | Mapping[int, float],
    candidates: Sequence[int],
    opens: float,
    draws: tuple[float, float],
    parameters: SendTimeParameters = DEFAULT_PARAMETERS,
) -> int:
    """Index into `candidates` (hours of the week of a window's slots) to send at:
    the largest posterior weight, or — with probability ε·k/(k+opens) — a draw from
    the posterior restricted to the window."""
    k = parameters.prior_strength
    epsilon = parameters.exploration * k / (k + max(opens, 0.0))
    explore, pick = draws
    window = [weights[how] for how in candidates]
    if explore < epsilon:
        target = pick * sum(window)
        for index, weight in enumerate(window):
            target -= weight
            if target < 0:
                return index
        return len(window) - 1
    return max(range(len(window)), key=window.__getitem__)


def best_hours(weights: Sequence[float], n: int = 3) -> list[tuple[int, float]]:
    """The `n` hours of the week with the most posterior weight, each with its share,
    no two within an hour of each other (neighbours of a peak say nothing new)."""
    total = sum(weights) or 1.0
    picked: list[tuple[int, float]] = []
    for how in sorted(range(HOURS_PER_WEEK), key=lambda h: -weights[h]):
        if all(min((how - p) % HOURS_PER_WEEK, (p - how) % HOURS_PER_WEEK) > 1 for p, _ in picked):
            picked.append((how, weights[how] / total))
        if len(picked) == n:
            break
    return picked


# -- the send window ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slot:
    at: datetime  # when to send (UTC)
    hour_of_week: int  # the local hour it falls in


def window_slots(start: datetime, zone: str, hours: int = WINDOW_HOURS) -> list[Slot]:
    """The local hours a send starting at `start` can go out in, within `hours`:
    the hour `start` falls in (sent at `start`), then each following local hour from
    its first minute. Zones with half-hour offsets get their own boundaries."""
    return list(_slots(start, zone, hours))


@lru_cache(maxsize=1024)
def _slots(start: datetime, zone: str, hours: int) -> tuple[Slot, ...]:
    tz = ZoneInfo(zone)
    local = start.astimezone(tz)
    boundary = start + timedelta(
        minutes=60 - local.minute, seconds=-local.second, microseconds=-local.microsecond
    )
    moments = [start] + [boundary + timedelta(hours=i) for i in range(hours - 1)]
    return tuple(Slot(at, hour_of_week(at.astimezone(tz))) for at in moments)


def plan_time(
    counts: HourCounts,
    pattern: Sequence[float],
    slots: Sequence[Slot],
    draws: tuple[float, float],
    parameters: SendTimeParameters = DEFAULT_PARAMETERS,
) -> Slot:
    """The slot of the window to send one contact their message in."""
    candidates = [s.hour_of_week for s in slots]
    weights = window_posterior(counts, pattern, candidates, parameters)
    opens = sum(counts.values())
    index = choose(weights, candidates, opens, draws, parameters)
    return slots[index]


def window_posterior(
    counts: HourCounts,
    pattern: Sequence[float],
    candidates: Sequence[int],
    parameters: SendTimeParameters = DEFAULT_PARAMETERS,
) -> dict[int, float]:
    """`posterior` at the window's hours only: what planning a large audience needs,
    without the 168-hour vectors (the same numbers, a fraction of the work)."""
    kernel = _kernel(parameters)
    keep = parameters.weekday_share
    spread = (1.0 - keep) / 7.0
    week: dict[int, float] = {}
    day = [0.0] * HOURS_PER_DAY
    for how, count in counts.items():
        if count <= 0:
            continue
        for offset, weight in kernel:
            at = (how + offset) % HOURS_PER_WEEK
            week[at] = week.get(at, 0.0) + count * weight * keep
            day[at % HOURS_PER_DAY] += count * weight * spread
    k = parameters.prior_strength
    return {
        how: week.get(how, 0.0) + day[how % HOURS_PER_DAY] + k * pattern[how] for how in candidates
    }
