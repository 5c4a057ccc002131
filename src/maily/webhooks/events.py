"""The event catalogue workspaces subscribe to, and how stream entries become events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from maily.analytics.stream import EventKind, TrackingEvent

# event type -> what it means (shown in the API documentation)
EVENT_TYPES: dict[str, str] = {
    "email.delivered": "The receiving server accepted a campaign message",
    "email.opened": "A recipient opened a message (machine opens flagged in data.machine)",
    "email.clicked": "A recipient clicked a tracked link (scanner clicks flagged in data.machine)",
    "email.bounced": "A message bounced (data.bounce_type: hard or soft)",
    "email.complained": "A recipient reported a message as spam",
    "contact.unsubscribed": "A contact unsubscribed (one-click, link, preferences or mailto)",
    "campaign.state_changed": "A campaign changed state (scheduled, sending, paused, sent, …)",
}
# Sent on request to one endpoint (POST …/ping), whatever it subscribes to.
PING_EVENT = "webhook.ping"

# stream event kind -> webhook event type
STREAM_KINDS: dict[EventKind, str] = {
    EventKind.delivered: "email.delivered",
    EventKind.open: "email.opened",
    EventKind.click: "email.clicked",
    EventKind.bounce: "email.bounced",
    EventKind.complaint: "email.complained",
    EventKind.unsubscribe: "contact.unsubscribed",
}


@dataclass(frozen=True)
class OutboundEvent:
    """An event for the endpoints of one workspace that subscribe to its type."""

    workspace_id: uuid.UUID
    event_id: str  # stable: replaying its source makes the same id
    type: str
    occurred_at: datetime
    data: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "type": self.type,
            "created_at": self.occurred_at.isoformat(),
            "workspace_id": str(self.workspace_id),
            "data": self.data,
        }


@dataclass(frozen=True)
class Recipient:
    """What a delivery id stands for, read from the ledger."""

    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    contact_id: uuid.UUID
    email: str
    variant: str | None


def stream_event(entry_id: str, event: TrackingEvent, recipient: Recipient) -> OutboundEvent:
    """The webhook event of a stream entry (see maily.analytics.stream)."""
    kind = event.kind
    data: dict[str, Any] = {
        "delivery_id": str(event.delivery_id),
        "campaign_id": str(recipient.campaign_id),
        "contact_id": str(recipient.contact_id),
        "email": recipient.email,
    }
    if recipient.variant:
        data["variant"] = recipient.variant
    if kind in (EventKind.open, EventKind.click):
        data["machine"] = event.machine.value if event.machine else None
        data["user_agent"] = event.user_agent or None
    if kind is EventKind.click:
        data["link_index"] = event.link_index
    if kind in (EventKind.bounce, EventKind.complaint):
        bounce_type = event.bounce_type.value if event.bounce_type else None
        data["bounce_type"] = bounce_type or ("complaint" if kind is EventKind.complaint else None)
        data["code"] = event.code or None
        data["diagnostic"] = event.diagnostic or None
        data["source"] = event.source or None
    if kind is EventKind.unsubscribe:
        data["channel"] = event.channel.value if event.channel else None
        data["reason"] = event.reason or None
        data["list_ids"] = [str(list_id) for list_id in event.lists]
    return OutboundEvent(
        workspace_id=recipient.workspace_id,
        event_id=f"s:{entry_id}",
        type=STREAM_KINDS[kind],
        occurred_at=datetime.fromtimestamp(event.at_ms / 1000, UTC),
        data=data,
    )


def campaign_state_event(
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    state: str,
    *,
    previous: str | None,
    reason: str | None,
    changed_at: datetime,
) -> OutboundEvent:
    stamp = int(changed_at.timestamp() * 1000)
    return OutboundEvent(
        workspace_id=workspace_id,
        event_id=f"c:{campaign_id}:{state}:{stamp}",
        type="campaign.state_changed",
        occurred_at=changed_at,
        data={
            "campaign_id": str(campaign_id),
            "state": state,
            "previous_state": previous,
            "reason": reason,
        },
    )
