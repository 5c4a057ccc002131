"""Timing rules for machine opens and clicks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from maily.analytics.machines import TimingRules, bursts, classify
from maily.analytics.stream import EventKind, MachineReason, TrackingEvent

SENT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RULES = TimingRules()


def event(kind: EventKind, **extra: object) -> TrackingEvent:
    return TrackingEvent(kind, uuid.uuid4(), 0, **extra)  # type: ignore[arg-type]


def test_an_open_within_seconds_of_the_send_is_a_prefetch() -> None:
    opened = event(EventKind.open)
    assert classify(opened, SENT + timedelta(seconds=2), SENT, RULES) == "prefetch"
    assert classify(opened, SENT - timedelta(seconds=1), SENT, RULES) == "prefetch"
    assert classify(opened, SENT + timedelta(seconds=5), SENT, RULES) is None
    assert classify(opened, SENT + timedelta(minutes=3), SENT, RULES) is None
    # No send time known: no timing verdict.
    assert classify(opened, SENT, None, RULES) is None


def test_an_ingest_flag_is_kept() -> None:
    proxied = event(EventKind.open, machine=MachineReason.proxy)
    assert classify(proxied, SENT + timedelta(hours=1), SENT, RULES) == "proxy"
    assert classify(proxied, SENT + timedelta(seconds=1), SENT, RULES) == "proxy"


def test_clicks_within_seconds_of_the_send_or_in_a_burst_are_a_scanner() -> None:
    clicked = event(EventKind.click, link_index=0)
    assert classify(clicked, SENT + timedelta(seconds=9), SENT, RULES) == "scanner"
    assert classify(clicked, SENT + timedelta(seconds=10), SENT, RULES) is None
    later = SENT + timedelta(hours=1)
    assert classify(clicked, later, SENT, RULES, in_burst=True) == "scanner"


def test_a_burst_is_different_links_of_one_message_within_the_window() -> None:
    t = SENT + timedelta(hours=1)
    window = timedelta(seconds=2)
    # Three links within a second: all three. The same link twice: a person double-clicking.
    assert bursts([(0, 0, t), (1, 1, t + timedelta(milliseconds=400)),
                   (2, 2, t + timedelta(seconds=1))], window) == {0, 1, 2}  # fmt: skip
    assert bursts([(0, 0, t), (1, 0, t + timedelta(milliseconds=300))], window) == set()
    assert bursts([(0, 0, t), (1, 1, t + timedelta(seconds=30))], window) == set()
