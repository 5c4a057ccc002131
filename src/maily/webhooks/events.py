"""The event catalogue workspaces subscribe to, and how stream entries become events."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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

# stream entry kind (field `k` of maily:events) -> event type
STREAM_KINDS: dict[str, str] = {
    "delivered": "email.delivered",
    "open": "email.opened",
    "click": "email.clicked",
    "bounce": "email.bounced",
    "complaint": "email.complained",
    "unsubscribe": "contact.unsubscribed",
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


def _time(fields: Mapping[str, str]) -> datetime:
    try:
        return datetime.fromtimestamp(int(fields.get("t", "")) / 1000, UTC)
    except ValueError:
        return datetime.now(UTC)


def stream_event(
    entry_id: str, fields: Mapping[str, str], recipient: Recipient
) -> OutboundEvent | None:
    """The event a stream entry stands for, or None for kinds webhooks do not carry."""
    kind = fields.get("k", "")
    event_type = STREAM_KINDS.get(kind)
    if event_type is None:
        return None
    data: dict[str, Any] = {
        "delivery_id": str(uuid.UUID(fields["d"])),
        "campaign_id": str(recipient.campaign_id),
        "contact_id": str(recipient.contact_id),
        "email": recipient.email,
    }
    if recipient.variant:
        data["variant"] = recipient.variant
    if kind in ("open", "click"):
        data["machine"] = fields.get("m") or None
        data["user_agent"] = fields.get("ua") or None
    if kind == "click" and fields.get("l", "").isdigit():
        data["link_index"] = int(fields["l"])
    if kind in ("bounce", "complaint"):
        data["bounce_type"] = fields.get("bt") or ("complaint" if kind == "complaint" else None)
        data["code"] = fields.get("code") or None
        data["diagnostic"] = fields.get("diag") or None
        data["source"] = fields.get("src") or None
    if kind == "unsubscribe":
        data["channel"] = fields.get("ch") or None
        data["reason"] = fields.get("r") or None
        lists = [value for value in fields.get("lists", "").split(",") if value]
        data["list_ids"] = lists
    return OutboundEvent(
        workspace_id=recipient.workspace_id,
        event_id=f"s:{entry_id}",
        type=event_type,
        occurred_at=_time(fields),
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
