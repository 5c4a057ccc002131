"""A campaign's audience as one predicate over contacts: lists and saved segments,
minus excluded lists and segments, and only contacts that may be mailed at all."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, true

from maily.contacts.audience import sendable, subscribed_to
from maily.kit.db import AsyncSession
from maily.models import Campaign, Contact, ListMembership
from maily.segments.compiler import load_segment_predicate


def member_of_any(list_ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """On any of the lists, whatever the membership's status: an exclusion list
    ("customers") excludes its people even after they left its mailings."""
    return exists().where(
        ListMembership.workspace_id == Contact.workspace_id,
        ListMembership.contact_id == Contact.id,
        ListMembership.list_id.in_(list(list_ids)),
    )


async def audience_predicate(
    session: AsyncSession, campaign: Campaign, *, now: datetime | None = None
) -> ColumnElement[bool]:
    """Contacts of the campaign's workspace it goes to. Raises NotFound for a segment
    that was deleted and SegmentOutOfDate (409) for one that no longer compiles."""
    workspace_id = campaign.workspace_id
    included: list[ColumnElement[bool]] = []
    if campaign.list_ids:
        included.append(subscribed_to(list(campaign.list_ids)))
    for segment_id in campaign.segment_ids:
        included.append(await load_segment_predicate(session, workspace_id, segment_id, now=now))
    excluded: list[ColumnElement[bool]] = []
    if campaign.exclude_list_ids:
        excluded.append(member_of_any(campaign.exclude_list_ids))
    for segment_id in campaign.exclude_segment_ids:
        excluded.append(await load_segment_predicate(session, workspace_id, segment_id, now=now))
    return and_(
        Contact.workspace_id == workspace_id,
        sendable(workspace_id),
        or_(*included) if included else false(),
        not_(or_(*excluded)) if excluded else true(),
    )
