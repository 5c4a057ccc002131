"""All SQL of the campaigns domain. Requests are scoped to one workspace; the
scheduler's and sender's look-ups (due campaigns, content of a batch) span all."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, tuple_

from maily.campaigns.states import DECIDABLE, CampaignStatus
from maily.kit.db import AsyncSession
from maily.kit.pagination import PageParams, paginate
from maily.models import Campaign, MailingList, Segment, Workspace


class CampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *, for_update: bool = False
    ) -> Campaign | None:
        if not for_update:
            return await self.session.get(Campaign, (workspace_id, campaign_id))
        query = (
            select(Campaign)
            .where(Campaign.workspace_id == workspace_id, Campaign.id == campaign_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def page(
        self, workspace_id: uuid.UUID, page: PageParams, status: CampaignStatus | None
    ) -> list[Campaign]:
        query = select(Campaign).where(Campaign.workspace_id == workspace_id)
        if status is not None:
            query = query.where(Campaign.status == status)
        return list(
            (await self.session.execute(paginate(query, Campaign.id, page, newest_first=True)))
            .scalars()
            .all()
        )

    async def add(self, campaign: Campaign) -> Campaign:
        self.session.add(campaign)
        await self.session.flush()
        await self.session.refresh(campaign)
        return campaign

    async def save(self, campaign: Campaign) -> Campaign:
        await self.session.flush()
        await self.session.refresh(campaign)
        return campaign

    async def delete(self, campaign: Campaign) -> None:
        await self.session.delete(campaign)
        await self.session.flush()

    async def postal_address(self, workspace_id: uuid.UUID) -> str:
        query = select(Workspace.postal_address).where(Workspace.id == workspace_id)
        return (await self.session.execute(query)).scalar_one_or_none() or ""

    async def missing_lists(
        self, workspace_id: uuid.UUID, list_ids: Sequence[uuid.UUID]
    ) -> list[uuid.UUID]:
        if not list_ids:
            return []
        query = select(MailingList.id).where(
            MailingList.workspace_id == workspace_id, MailingList.id.in_(list(list_ids))
        )
        found = set((await self.session.execute(query)).scalars())
        return [i for i in list_ids if i not in found]

    async def missing_segments(
        self, workspace_id: uuid.UUID, segment_ids: Sequence[uuid.UUID]
    ) -> list[uuid.UUID]:
        if not segment_ids:
            return []
        query = select(Segment.id).where(
            Segment.workspace_id == workspace_id, Segment.id.in_(list(segment_ids))
        )
        found = set((await self.session.execute(query)).scalars())
        return [i for i in segment_ids if i not in found]

    # -- the scheduler's and sender's look-ups (all workspaces) ---------------------------

    async def due(self, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Scheduled campaigns whose start time has come."""
        query = (
            select(Campaign.workspace_id, Campaign.id)
            .where(Campaign.status == CampaignStatus.scheduled, Campaign.scheduled_at <= func.now())
            .order_by(Campaign.scheduled_at)
            .limit(limit)
        )
        return [(w, c) for w, c in await self.session.execute(query)]

    async def sending(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        query = select(Campaign.workspace_id, Campaign.id).where(
            Campaign.status == CampaignStatus.sending
        )
        return [(w, c) for w, c in await self.session.execute(query)]

    async def ab_undecided(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """A/B campaigns under way (or sent: a test of the whole audience has nothing
        held back) whose waiting time is over, without a winner yet."""
        query = select(Campaign.workspace_id, Campaign.id).where(
            Campaign.status.in_(DECIDABLE),
            Campaign.ab_winner.is_(None),
            Campaign.ab_decide_at <= func.now(),
        )
        return [(w, c) for w, c in await self.session.execute(query)]

    async def with_postal_address(
        self, keys: Sequence[tuple[uuid.UUID, uuid.UUID]]
    ) -> list[tuple[Campaign, str]]:
        """Campaigns by (workspace_id, id), each with its workspace's postal address."""
        if not keys:
            return []
        query = (
            select(Campaign, Workspace.postal_address)
            .join(Workspace, Workspace.id == Campaign.workspace_id)
            .where(tuple_(Campaign.workspace_id, Campaign.id).in_(list(keys)))
        )
        return [(c, address) for c, address in await self.session.execute(query)]
