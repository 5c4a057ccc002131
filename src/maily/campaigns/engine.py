"""The moves the scheduler makes: begin a due campaign (materialise its ledger), pick an
A/B winner, finish a campaign whose every delivery is settled, fail one that cannot go on.

Each method works on one campaign, row-locked, inside the caller's transaction, and
goes through the state machine like every request does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from opentelemetry import trace

from maily.ai.insights.service import SendTimePlanner
from maily.campaigns.ab import METRIC_EVENTS, pick_winner, variant_names
from maily.campaigns.audience import audience_predicate
from maily.campaigns.repository import CampaignRepository
from maily.campaigns.states import DECIDABLE, CampaignStatus, require
from maily.delivery.repository import DeliveryRepository
from maily.kit.db import AsyncSession
from maily.kit.errors import MailyError
from maily.kit.tracing import trace_parent
from maily.models import Campaign

_tracer = trace.get_tracer("maily.campaigns")


class CampaignEngine:
    def __init__(self, session: AsyncSession, tracer: trace.Tracer | None = None) -> None:
        self.session = session
        self.tracer = tracer or _tracer
        self.campaigns = CampaignRepository(session)
        self.deliveries = DeliveryRepository(session)

    async def _locked(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign | None:
        return await self.campaigns.get(workspace_id, campaign_id, for_update=True)

    def _span(self, name: str, campaign: Campaign) -> trace.Span:
        """A span of this move in the trace of the request that started the campaign."""
        return self.tracer.start_span(
            name,
            context=trace_parent(campaign.trace_context),
            attributes={
                "maily.workspace_id": str(campaign.workspace_id),
                "maily.campaign_id": str(campaign.id),
            },
        )

    async def begin(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign | None:
        """scheduled → sending: make the ledger from the audience as it is now. A
        campaign whose audience can no longer be built (a segment was deleted or no
        longer fits the custom fields) fails, with the reason."""
        campaign = await self._locked(workspace_id, campaign_id)
        if campaign is None or campaign.status != CampaignStatus.scheduled:
            return None  # unscheduled or cancelled meanwhile
        with trace.use_span(self._span("campaign.begin", campaign), end_on_exit=True) as span:
            await self._materialise(campaign)
            span.set_attribute("maily.campaign.status", campaign.status)
            span.set_attribute("maily.campaign.audience_size", campaign.audience_size or 0)
        return campaign

    async def _materialise(self, campaign: Campaign) -> None:
        try:
            audience = await audience_predicate(self.session, campaign)
        except MailyError as exc:
            await self.fail(campaign, f"the audience cannot be built: {exc.message}")
            return
        require(campaign.status, CampaignStatus.sending)
        planned = None
        if campaign.send_time_optimisation:
            # Each contact's best hour within the next 24 hours, as their send_after.
            planned = await SendTimePlanner(self.session).plan(
                campaign, audience, datetime.now(UTC)
            )
        campaign.audience_size = await self.deliveries.materialise(campaign, audience, planned)
        campaign.status = CampaignStatus.sending
        campaign.started_at = datetime.now(UTC)
        if campaign.ab_test:
            last = await self.deliveries.last_test_send_after(campaign)
            wait = timedelta(minutes=campaign.ab_test["wait_minutes"])
            campaign.ab_decide_at = max(last or campaign.started_at, campaign.started_at) + wait
        await self.campaigns.save(campaign)

    async def fail(self, campaign: Campaign, reason: str) -> None:
        require(campaign.status, CampaignStatus.failed)
        campaign.status = CampaignStatus.failed
        campaign.failure_reason = reason[:1000]
        campaign.finished_at = datetime.now(UTC)
        await self.campaigns.save(campaign)

    async def fail_by_id(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, reason: str
    ) -> bool:
        campaign = await self._locked(workspace_id, campaign_id)
        if campaign is None or campaign.status != CampaignStatus.sending:
            return False
        await self.fail(campaign, reason)
        return True

    async def declare_winner(self, campaign: Campaign, variant: str) -> None:
        """Record the winner and release the held-back audience, which is then sent
        the winning variant."""
        campaign.ab_winner = variant
        now = datetime.now(UTC)
        campaign.ab_decide_at = min(campaign.ab_decide_at or now, now)
        planned = None
        if campaign.send_time_optimisation:
            # The rest get their best hour within the 24 hours from the decision.
            planned = await SendTimePlanner(self.session).plan(
                campaign, self.deliveries.held_back(campaign), now
            )
        await self.deliveries.release_holdback(campaign, planned)

    async def decide(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> str | None:
        """Pick the A/B winner by the campaign's metric, once the waiting time is over."""
        campaign = await self._locked(workspace_id, campaign_id)
        if (
            campaign is None
            or not campaign.ab_test
            or campaign.ab_winner is not None
            or campaign.status not in DECIDABLE
            or campaign.ab_decide_at is None
            or campaign.ab_decide_at > datetime.now(UTC)
        ):
            return None
        with trace.use_span(self._span("campaign.decide", campaign), end_on_exit=True) as span:
            event = METRIC_EVENTS[campaign.ab_test["metric"]]
            stats = await self.deliveries.variant_engagement(workspace_id, campaign_id, event)
            winner = pick_winner(variant_names(campaign.ab_test), stats)
            await self.declare_winner(campaign, winner)
            await self.campaigns.save(campaign)
            span.set_attribute("maily.campaign.ab_winner", winner)
        return winner

    async def finish_if_done(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> bool:
        """sending → sent once every delivery is final (held-back A/B rows are not)."""
        if await self.deliveries.has_pending(workspace_id, campaign_id):
            return False
        campaign = await self._locked(workspace_id, campaign_id)
        if campaign is None or campaign.status != CampaignStatus.sending:
            return False
        # Checked again under the lock: a winner released rows meanwhile, say.
        if await self.deliveries.has_pending(workspace_id, campaign_id):
            return False
        with trace.use_span(self._span("campaign.finish", campaign), end_on_exit=True):
            require(campaign.status, CampaignStatus.sent)
            campaign.status = CampaignStatus.sent
            campaign.finished_at = datetime.now(UTC)
            await self.campaigns.save(campaign)
        return True
