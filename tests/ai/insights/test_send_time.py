"""The send-time model's pure functions: smoothing, shrinkage, windows, exploration."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from maily.ai.insights.send_time import (
    DEFAULT_PARAMETERS,
    HOURS_PER_WEEK,
    SendTimeParameters,
    best_hours,
    describe_hour,
    hour_of_week,
    pattern_from_totals,
    plan_time,
    posterior,
    smooth,
    uniforms,
    window_posterior,
    window_slots,
    workspace_pattern,
)

TUESDAY = datetime(2026, 12, 1, tzinfo=UTC)
GREEDY = SendTimeParameters(exploration=0.0)


def at(weekday: int, hour: int) -> int:
    return weekday * 24 + hour


def test_smoothing_spreads_over_neighbours_and_weekdays_and_keeps_the_total() -> None:
    smoothed = smooth({at(1, 8): 10})
    assert sum(smoothed) == pytest.approx(10)
    assert smoothed[at(1, 8)] > smoothed[at(1, 9)] > smoothed[at(1, 10)] > smoothed[at(1, 11)]
    # The same hour on another day gets some of it; an unrelated hour none.
    assert smoothed[at(3, 8)] > 0
    assert smoothed[at(3, 15)] == 0
    # Sunday 23:00 and Monday 00:00 are neighbours.
    assert smooth({0: 1})[HOURS_PER_WEEK - 1] > 0


def test_the_workspace_pattern_is_a_distribution_with_no_impossible_hour() -> None:
    pattern = workspace_pattern([{at(0, 9): 3}, {at(0, 9): 1, at(4, 20): 2}])
    assert sum(pattern) == pytest.approx(1)
    assert min(pattern) > 0
    assert max(range(HOURS_PER_WEEK), key=pattern.__getitem__) == at(0, 9)
    assert pattern == pattern_from_totals({at(0, 9): 4, at(4, 20): 2})


def test_a_contact_with_a_long_history_gets_their_own_hour() -> None:
    pattern = workspace_pattern([{at(d, 9): 50} for d in range(7)])  # everyone reads at 9
    evening = {at(d, 20): 3 for d in range(5)}  # 15 opens at 20:00
    slot = plan_time(evening, pattern, window_slots(TUESDAY, "UTC"), (0.5, 0.5), GREEDY)
    assert slot.at == TUESDAY.replace(hour=20)
    assert slot.hour_of_week == at(1, 20)


def test_a_contact_without_history_follows_the_workspace() -> None:
    pattern = workspace_pattern([{at(d, 9): 50} for d in range(7)])
    slot = plan_time({}, pattern, window_slots(TUESDAY, "UTC"), (0.5, 0.5), GREEDY)
    assert slot.at == TUESDAY.replace(hour=9)


def test_one_open_is_shrunk_toward_the_workspace() -> None:
    pattern = workspace_pattern([{at(d, 9): 50} for d in range(7)])
    single = {at(3, 20): 1}
    slots = window_slots(TUESDAY, "UTC")
    assert plan_time(single, pattern, slots, (0.5, 0.5), GREEDY).at.hour == 9
    many = {at(d, 20): 4 for d in range(5)}
    assert plan_time(many, pattern, slots, (0.5, 0.5), GREEDY).at.hour == 20


def test_hours_are_the_contacts_local_ones() -> None:
    pattern = workspace_pattern([{at(d, 9): 50} for d in range(7)])
    slot = plan_time({}, pattern, window_slots(TUESDAY, "Asia/Tokyo"), (0.5, 0.5), GREEDY)
    local = slot.at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (9, 0)
    assert slot.at - TUESDAY < timedelta(hours=24)


def test_a_window_has_24_slots_from_the_start_on_local_hour_boundaries() -> None:
    start = TUESDAY + timedelta(minutes=7)
    slots = window_slots(start, "Asia/Kolkata")  # UTC+05:30
    assert len(slots) == 24
    assert slots[0].at == start
    assert slots[1].at == TUESDAY + timedelta(minutes=30)
    assert all(b.at - a.at <= timedelta(hours=1) for a, b in itertools.pairwise(slots))
    assert slots[-1].at - start < timedelta(hours=24)
    assert len({s.hour_of_week for s in slots}) == 24


def test_exploration_is_seeded_shrinks_with_history_and_stays_in_the_window() -> None:
    pattern = workspace_pattern([{at(d, 9): 50} for d in range(7)])
    slots = window_slots(TUESDAY, "UTC")
    params = SendTimeParameters(exploration=0.5)

    def explored(counts: dict[int, float]) -> float:
        hours = [
            plan_time(counts, pattern, slots, uniforms("campaign-1", i), params).at.hour
            for i in range(2000)
        ]
        return sum(h != (9 if not counts else 20) for h in hours) / len(hours)

    newcomer = explored({})
    regular = explored({at(d, 20): 6 for d in range(5)})
    assert 0.1 < newcomer < 0.5
    assert regular < newcomer / 3
    assert uniforms("campaign-1", 5) == uniforms("campaign-1", 5)
    assert uniforms("campaign-1", 5) != uniforms("campaign-2", 5)


def test_best_hours_are_distinct_peaks_with_shares() -> None:
    weights = posterior({at(1, 8): 10, at(1, 9): 9, at(4, 19): 6}, [1 / 168] * 168)
    top = best_hours(weights, 3)
    assert top[0][0] == at(1, 8)
    assert at(1, 9) not in [h for h, _ in top]  # a neighbour of the peak
    assert all(0 < share < 1 for _, share in top)
    assert describe_hour(at(1, 8)) == "Tuesday 08:00"
    assert hour_of_week(TUESDAY.replace(hour=8)) == at(1, 8)
    assert DEFAULT_PARAMETERS.prior_strength > 0


def test_the_window_posterior_is_the_posterior_at_the_windows_hours() -> None:
    pattern = workspace_pattern([{at(d, 9): 50, at(d, 21): 7} for d in range(7)])
    counts = {at(0, 23): 2, at(1, 0): 1, at(6, 23): 3, at(3, 12): 1}
    candidates = [s.hour_of_week for s in window_slots(TUESDAY, "America/Denver")]
    full = posterior(counts, pattern)
    window = window_posterior(counts, pattern, candidates)
    assert window == pytest.approx({how: full[how] for how in candidates})
