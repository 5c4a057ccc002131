"""The `Composer` protocol: how the send engine turns a ledger row into a finished message.

The engine (campaigns, scheduler, sender) knows nothing about templates, MIME or DKIM.
It hands a composer a snapshot of the campaign's content and gets back:

- `check(campaign)`: what the content lacks to be sent lawfully (CAN-SPAM), as
  product words — "unsubscribe link", "postal address" — empty when it is complete;
- `prepare(campaign)`: a `PreparedCampaign`, the campaign's templates compiled once,
  which the sender caches and reuses for every row of the campaign;
- `prepared.compose(delivery, contact)`: one `OutgoingMessage` (rendered, headers
  set, DKIM-signed) for one ledger row.

The real composer (template renderer + sender identity + MIME/DKIM builder) plugs in
through `maily.delivery.parts`; the engine's tests use a small stand-in."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from maily.delivery.transports.base import OutgoingMessage

UNSUBSCRIBE_LINK = "unsubscribe link"
POSTAL_ADDRESS = "postal address"


@dataclass(frozen=True, slots=True)
class VariantContent:
    """One A/B variant; a None field falls back to the campaign's own value."""

    name: str  # "A" .. "E"
    subject: str | None = None
    template_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class CampaignContent:
    """What a composer needs to know about a campaign, read once per batch."""

    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    name: str
    subject: str
    preheader: str
    template_id: uuid.UUID | None
    sender_id: uuid.UUID | None
    # The workspace's physical address (workspaces.postal_address), for the footer.
    postal_address: str
    variants: Sequence[VariantContent] = ()
    # Changes whenever the campaign is edited: the sender re-prepares on a new value.
    updated_at: datetime | None = None

    def variant(self, name: str | None) -> VariantContent | None:
        return next((v for v in self.variants if v.name == name), None)

    def subject_for(self, variant: str | None) -> str:
        chosen = self.variant(variant)
        return chosen.subject if chosen and chosen.subject is not None else self.subject

    def template_for(self, variant: str | None) -> uuid.UUID | None:
        chosen = self.variant(variant)
        return chosen.template_id if chosen and chosen.template_id is not None else self.template_id


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One leased ledger row. `id` is None for a test send (no ledger row)."""

    id: uuid.UUID | None
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    contact_id: uuid.UUID | None
    email: str
    variant: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class ContactRow:
    """The contact as it is when its row is leased, for personalisation."""

    id: uuid.UUID | None
    email: str
    first_name: str = ""
    last_name: str = ""
    timezone: str | None = None
    locale: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[str] = ()


class PreparedCampaign(Protocol):
    """A campaign's content compiled once; `compose` runs for every row, so it must be
    cheap and must not touch the database. The sender calls it from a worker thread
    (rendering and signing are CPU work), one batch at a time per thread, so it must be
    safe to call from threads. It may raise for one row (a template error on that
    contact's data): the sender records that row as failed and goes on."""

    def compose(self, delivery: DeliveryRow, contact: ContactRow) -> OutgoingMessage: ...


@runtime_checkable
class Composer(Protocol):
    async def check(self, campaign: CampaignContent) -> list[str]:
        """What the content lacks to be sent: UNSUBSCRIBE_LINK, POSTAL_ADDRESS (and any
        other readable name); an empty list when the campaign may be sent."""
        ...

    async def prepare(self, campaign: CampaignContent) -> PreparedCampaign:
        """Load and compile the campaign's templates and sender identity. Raises
        `CampaignUnsendable` when that cannot be done (a template was deleted):
        the sender then fails the campaign instead of every row."""
        ...


class CampaignUnsendable(Exception):
    """The campaign's content cannot be prepared; the message says why."""
