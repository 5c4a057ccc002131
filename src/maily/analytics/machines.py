"""Timing-based machine detection: opens and clicks no person could have made.

The tracking endpoints flag what they can tell from one request (a mail-privacy proxy's
address, a scanner's user agent); only the consumer knows when the message was sent and
what else happened to it, so the timing rules live here:
- an open within `prefetch_open` of the send is a prefetch (a gateway or client fetching
  images on arrival, before anyone could have looked);
- a click within `scanner_click` of the send, or a click on another link of the same
  message within `scanner_burst` of an earlier one, is a security scanner following
  every link. Both clicks of such a burst are the scanner's when they are seen together;
  a click stored by an earlier batch keeps what it was counted as (counters only grow).
An event flagged at ingest keeps its flag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from maily.analytics.stream import EventKind, MachineReason, TrackingEvent


@dataclass(frozen=True, slots=True)
class TimingRules:
    prefetch_open: timedelta = timedelta(seconds=5)
    scanner_click: timedelta = timedelta(seconds=10)
    scanner_burst: timedelta = timedelta(seconds=2)


def too_soon(at: datetime, sent_at: datetime | None, window: timedelta) -> bool:
    """Whether `at` falls within `window` of the send (or before it: the send's own
    record is written after the transport accepted the message)."""
    return sent_at is not None and at - sent_at < window


def classify(
    event: TrackingEvent,
    at: datetime,
    sent_at: datetime | None,
    rules: TimingRules,
    *,
    in_burst: bool = False,
) -> str | None:
    """Why the event is a machine's, or None for a person's. `in_burst`: another link of
    the same message was clicked within `rules.scanner_burst` of this click."""
    if event.machine is not None:
        return event.machine.value
    if event.kind is EventKind.open and too_soon(at, sent_at, rules.prefetch_open):
        return MachineReason.prefetch.value
    if event.kind is EventKind.click and (in_burst or too_soon(at, sent_at, rules.scanner_click)):
        return MachineReason.scanner.value
    return None


def bursts(clicks: list[tuple[int, int | None, datetime]], window: timedelta) -> set[int]:
    """Of one message's clicks in a batch, as (position, link index, time), the positions
    of those with a click on a different link within `window`."""
    found: set[int] = set()
    ordered = sorted(clicks, key=lambda click: click[2])
    for i, (pos, link, at) in enumerate(ordered):
        for other_pos, other_link, other_at in ordered[i + 1 :]:
            if other_at - at > window:
                break
            if other_link != link:
                found.update((pos, other_pos))
    return found
