"""The event stream's entry format, through a real Redis stream."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from maily.analytics.stream import (
    BounceType,
    EventKind,
    MachineReason,
    StreamFormatError,
    TrackingEvent,
    UnsubscribeChannel,
    append_events,
    decode_event,
    encode_event,
)

EVENTS = [
    TrackingEvent(EventKind.open, uuid.uuid4(), 1_764_000_000_123, ip="192.0.2.7",
                  user_agent="Mozilla/5.0", machine=MachineReason.proxy),
    TrackingEvent(EventKind.click, uuid.uuid4(), 1_764_000_000_456, link_index=7,
                  link_table=uuid.uuid4()),
    TrackingEvent(EventKind.click, uuid.uuid4(), 1_764_000_000_789, link_index=0),
    TrackingEvent(EventKind.bounce, uuid.uuid4(), 1, bounce_type=BounceType.hard,
                  code="5.1.1", diagnostic="550 5.1.1 user unknown", source="inbound"),
    TrackingEvent(EventKind.unsubscribe, uuid.uuid4(), 2, channel=UnsubscribeChannel.preferences,
                  reason="too many", lists=(uuid.uuid4(), uuid.uuid4())),
]  # fmt: skip


async def test_events_come_back_from_the_stream_as_they_went_in(redis: Redis) -> None:
    key = f"test:events:{uuid.uuid4()}"
    try:
        ids = await append_events(redis, key, EVENTS)
        assert len(ids) == len(EVENTS)
        entries = await redis.xrange(key)
        assert [entry_id.decode() for entry_id, _ in entries] == ids
        assert [decode_event(fields) for _, fields in entries] == EVENTS
    finally:
        await redis.delete(key)


async def test_appending_nothing_writes_nothing(redis: Redis) -> None:
    key = f"test:events:{uuid.uuid4()}"
    assert await append_events(redis, key, []) == []
    assert await redis.exists(key) == 0


def test_long_texts_are_cut_and_empty_fields_left_out() -> None:
    event = TrackingEvent(EventKind.open, uuid.uuid4(), 5, user_agent="x" * 2000)
    fields = encode_event(event)
    assert set(fields) == {"k", "d", "t", "ua"}
    assert len(fields["ua"]) == 512


def test_a_click_names_its_link_table_in_32_hex_digits() -> None:
    table = uuid.uuid4()
    fields = encode_event(
        TrackingEvent(EventKind.click, uuid.uuid4(), 5, link_index=3, link_table=table)
    )
    assert fields["l"] == "3"
    assert fields["lt"] == table.hex
    assert len(fields["lt"]) == 32


def test_a_click_written_without_a_link_table_still_decodes() -> None:
    delivery = uuid.uuid4()
    event = decode_event({b"k": b"click", b"d": delivery.hex.encode(), b"t": b"9", b"l": b"2"})
    assert (event.link_index, event.link_table) == (2, None)


@pytest.mark.parametrize("event", EVENTS, ids=[e.kind.value for e in EVENTS])
def test_bytes_and_str_fields_decode_alike(event: TrackingEvent) -> None:
    fields = encode_event(event)
    raw = {key.encode(): value.encode() for key, value in fields.items()}
    assert decode_event(fields) == decode_event(raw) == event


def test_a_str_field_wins_over_the_same_name_as_bytes() -> None:
    delivery = uuid.uuid4()
    for fields in (
        {"k": "open", b"k": b"click", "d": delivery.hex, "t": "1"},
        {b"k": b"click", "k": "open", "d": delivery.hex, "t": "1"},
    ):
        assert decode_event(fields).kind is EventKind.open


@pytest.mark.parametrize(
    "fields",
    [
        {"k": "nonsense", "d": uuid.uuid4().hex, "t": "1"},
        {"k": "open", "d": "not-a-uuid", "t": "1"},
        {"k": "open", "d": uuid.uuid4().hex, "t": "soon"},
        {"k": "click", "d": uuid.uuid4().hex, "t": "1", "l": "x"},
        {"k": "click", "d": uuid.uuid4().hex, "t": "1", "l": "0", "lt": "not-a-table"},
        {"k": "open", "d": uuid.uuid4().hex, "t": "1", "m": "gremlin"},
        {"d": uuid.uuid4().hex, "t": "1"},
        {"k": "open", "t": "1"},
        {b"k": b"open", b"d": uuid.uuid4().hex.encode()},
    ],
)
def test_a_malformed_entry_is_a_format_error(fields: dict[str, str]) -> None:
    with pytest.raises(StreamFormatError):
        decode_event(fields)
