"""The event stream: what public endpoints, bounce handlers and provider webhooks append
to Redis, and what the analytics service and the webhook dispatcher read back.

One Redis stream (`settings.analytics.stream_key`) carries every engagement event as a
flat map of short string fields, so an entry costs little to write on the hot path and
any consumer can decode it without PostgreSQL. An event names its delivery only; a
consumer resolves delivery -> workspace, campaign, contact and variant in one query per
batch. The stream entry id is the event's identity: storing it with the event makes a
replayed entry a no-op."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from prometheus_client import Counter

__all__ = [
    "ANALYTICS_GROUP",
    "WEBHOOKS_GROUP",
    "BounceType",
    "EventKind",
    "MachineReason",
    "StreamFormatError",
    "TrackingEvent",
    "UnsubscribeChannel",
    "append_events",
    "decode_event",
    "encode_event",
    "live_channel",
]

ANALYTICS_GROUP = "analytics"
WEBHOOKS_GROUP = "webhooks"

EVENTS_APPENDED: Final = Counter(
    "maily_events_appended",
    "Events appended to the event stream, by kind (open, click, bounce, complaint, ...).",
    ["kind"],
)

EVENTS_NOT_APPENDED: Final = Counter(
    "maily_events_not_appended",
    "Events whose facts PostgreSQL already holds (bounces, complaints, deliveries "
    "reported by providers) that could not be appended to the event stream right "
    "after their commit because Redis did not answer, by kind. They stay held in "
    "pending_events and the scheduler appends them once Redis answers "
    "(maily.analytics.relay; maily_events_held counts those still waiting).",
    ["kind"],
)

MAX_USER_AGENT = 512
MAX_DIAGNOSTIC = 500


class EventKind(StrEnum):
    open = "open"
    click = "click"
    unsubscribe = "unsubscribe"
    bounce = "bounce"
    complaint = "complaint"
    delivered = "delivered"


class MachineReason(StrEnum):
    """Why an open or click is taken for a machine's rather than a person's."""

    proxy = "proxy"  # a mail-privacy image proxy (Apple Mail Privacy Protection, Gmail's)
    scanner = "scanner"  # a security gateway following every link
    prefetch = "prefetch"  # fetched within seconds of delivery
    bot = "bot"  # a known crawler or automation user agent


class BounceType(StrEnum):
    hard = "hard"
    soft = "soft"
    complaint = "complaint"


class UnsubscribeChannel(StrEnum):
    one_click = "one_click"  # RFC 8058 POST from the mailbox provider
    link = "link"  # the unsubscribe page, confirmed by the person
    preferences = "preferences"  # the preference center
    mailto = "mailto"  # mail to the List-Unsubscribe mailto address


class StreamFormatError(ValueError):
    """An entry that doesn't decode: logged and acknowledged by consumers, never retried."""


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    kind: EventKind
    delivery_id: uuid.UUID
    at_ms: int  # when it happened, epoch milliseconds
    link_index: int | None = None  # clicks
    # clicks: the link table the click token named, so the URL is the one the message
    # carried even after its template changed (None in events written before it existed)
    link_table: uuid.UUID | None = None
    user_agent: str = ""
    ip: str = ""
    machine: MachineReason | None = None
    # bounce / complaint / delivered
    bounce_type: BounceType | None = None
    code: str = ""
    diagnostic: str = ""
    source: str = ""  # ses | postmark | sendgrid | mailgun | inbound
    # unsubscribe
    channel: UnsubscribeChannel | None = None
    reason: str = ""
    # a preference-center unsubscribe from some lists only; empty means all
    lists: tuple[uuid.UUID, ...] = field(default=())


def encode_event(event: TrackingEvent) -> dict[str, str]:
    """The stream fields of an event; empty optional fields are left out."""
    fields = {"k": event.kind.value, "d": event.delivery_id.hex, "t": str(event.at_ms)}
    if event.link_index is not None:
        fields["l"] = str(event.link_index)
    if event.link_table is not None:
        fields["lt"] = event.link_table.hex
    if event.user_agent:
        fields["ua"] = event.user_agent[:MAX_USER_AGENT]
    if event.ip:
        fields["ip"] = event.ip
    if event.machine is not None:
        fields["m"] = event.machine.value
    if event.bounce_type is not None:
        fields["bt"] = event.bounce_type.value
    if event.code:
        fields["code"] = event.code
    if event.diagnostic:
        fields["diag"] = event.diagnostic[:MAX_DIAGNOSTIC]
    if event.source:
        fields["src"] = event.source
    if event.channel is not None:
        fields["ch"] = event.channel.value
    if event.reason:
        fields["r"] = event.reason
    if event.lists:
        fields["lists"] = ",".join(item.hex for item in event.lists)
    return fields


def _str(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def decode_event(fields: Mapping[Any, Any]) -> TrackingEvent:
    """An event from its stream fields (str or bytes keys and values; a str key wins
    over the same name as bytes)."""
    # One pass over the fields the entry has (an open has five or six of the fifteen)
    # instead of looking each name up twice, as str and as bytes: the analytics consumer
    # decodes every entry of the stream.
    text: dict[str, str] = {}
    for key, value in fields.items():
        if isinstance(key, bytes):
            text.setdefault(key.decode("utf-8", "replace"), _str(value))
        else:
            text[str(key)] = _str(value)
    get = text.get
    try:
        kind = EventKind(get("k", ""))
        delivery_id = uuid.UUID(hex=get("d", ""))
        at_ms = int(get("t", ""))
        link = get("l")
        link_table = get("lt")
        machine = get("m")
        bounce_type = get("bt")
        channel = get("ch")
        lists = get("lists")
        return TrackingEvent(
            kind=kind,
            delivery_id=delivery_id,
            at_ms=at_ms,
            link_index=int(link) if link else None,
            link_table=uuid.UUID(hex=link_table) if link_table else None,
            user_agent=get("ua", ""),
            ip=get("ip", ""),
            machine=MachineReason(machine) if machine else None,
            bounce_type=BounceType(bounce_type) if bounce_type else None,
            code=get("code", ""),
            diagnostic=get("diag", ""),
            source=get("src", ""),
            channel=UnsubscribeChannel(channel) if channel else None,
            reason=get("r", ""),
            lists=tuple(uuid.UUID(hex=item) for item in lists.split(",")) if lists else (),
        )
    except (ValueError, TypeError) as exc:
        raise StreamFormatError(f"undecodable event entry: {exc}") from exc


async def append_events(redis: Any, stream_key: str, events: Iterable[TrackingEvent]) -> list[str]:
    """Append events in one pipelined round trip; returns their entry ids.

    No MAXLEN: the stream is trimmed by its consumers once every group has acknowledged,
    never by a writer, so an unread event can't be cut off."""
    pipe = redis.pipeline(transaction=False)
    kinds: dict[str, int] = {}
    for event in events:
        pipe.xadd(stream_key, encode_event(event))
        kind = str(event.kind)
        kinds[kind] = kinds.get(kind, 0) + 1
    if not kinds:
        return []
    ids = await pipe.execute()
    for kind, n in kinds.items():
        EVENTS_APPENDED.labels(kind).inc(n)
    return [item.decode() if isinstance(item, bytes) else str(item) for item in ids]


def live_channel(prefix: str, workspace_id: uuid.UUID) -> str:
    """The pub/sub channel of one workspace's live counters."""
    return f"{prefix}{workspace_id}"
