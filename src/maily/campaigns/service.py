"""Business rules for campaigns: editing, starting, pausing, test sends, A/B winners.

No SQL and no HTTP here: repositories do the first, endpoints the second. The moves
the scheduler makes (begin, finish, decide) live in campaigns/engine.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from maily.auth.service import WorkspaceContext
from maily.campaigns import schemas
from maily.campaigns.ab import METRIC_EVENTS, rate, stored_ab_test, variant_names
from maily.campaigns.content import content_of
from maily.campaigns.engine import CampaignEngine
from maily.campaigns.repository import CampaignRepository
from maily.campaigns.states import DECIDABLE, DELETABLE, EDITABLE, CampaignStatus, require
from maily.contacts.addresses import InvalidAddress, normalize_email
from maily.contacts.repository import ContactRepository
from maily.delivery.composer import POSTAL_ADDRESS, CampaignUnsendable, ContactRow, DeliveryRow
from maily.delivery.parts import DeliveryParts
from maily.delivery.repository import DeliveryRepository
from maily.kit.db import AsyncSession
from maily.kit.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable
from maily.kit.pagination import PageParams
from maily.kit.tracing import current_trace_context
from maily.models import Campaign
from maily.webhooks.campaign_states import announce_state_change

# The first timezone to reach a wall-clock time is UTC+14 (Line Islands), the last UTC-12.
EARLIEST_OFFSET = timedelta(hours=14)
LATEST_OFFSET = timedelta(hours=12)
# A start time this far in the past is taken as "now" (clock skew, slow clients).
PAST_TOLERANCE = timedelta(minutes=5)


class CampaignNotReady(Conflict):
    """The campaign lacks something it needs to be sent; `details` lists it."""

    code = "campaign_not_ready"

    def __init__(self, what: str, missing: list[str]) -> None:
        super().__init__(
            f"{what}: {', '.join(missing)}", details=[{"missing": item} for item in missing]
        )
        self.missing = missing


def _unprocessable(field: str, message: str) -> Unprocessable:
    return Unprocessable(message, details=[{"loc": ["body", field], "message": message}])


class CampaignService:
    def __init__(self, session: AsyncSession, parts: DeliveryParts | None = None) -> None:
        self.session = session
        self.parts = parts
        self.campaigns = CampaignRepository(session)
        self.deliveries = DeliveryRepository(session)
        self.engine = CampaignEngine(session)

    # -- reading and editing ----------------------------------------------------------

    async def get(
        self, ctx: WorkspaceContext, campaign_id: uuid.UUID, *, for_update: bool = False
    ) -> Campaign:
        campaign = await self.campaigns.get(ctx.workspace_id, campaign_id, for_update=for_update)
        if campaign is None:
            raise NotFound("campaign not found")
        return campaign

    async def page(
        self, ctx: WorkspaceContext, page: PageParams, status: CampaignStatus | None
    ) -> list[Campaign]:
        return await self.campaigns.page(ctx.workspace_id, page, status)

    async def _check_references(self, workspace_id: uuid.UUID, values: dict[str, Any]) -> None:
        for field in ("list_ids", "exclude_list_ids"):
            missing = await self.campaigns.missing_lists(workspace_id, values.get(field) or [])
            if missing:
                raise _unprocessable(field, f"there is no list {missing[0]} in this workspace")
        for field in ("segment_ids", "exclude_segment_ids"):
            missing = await self.campaigns.missing_segments(workspace_id, values.get(field) or [])
            if missing:
                raise _unprocessable(field, f"there is no segment {missing[0]} in this workspace")

    @staticmethod
    def _columns(body: schemas.CampaignCreate | schemas.CampaignUpdate) -> dict[str, Any]:
        values = body.model_dump(exclude_unset=True, exclude={"schedule", "ab_test"})
        if body.schedule is not None:
            values.update(body.schedule.model_dump())
        if "ab_test" in body.model_fields_set:
            values["ab_test"] = stored_ab_test(body.ab_test) if body.ab_test else None
        return values

    async def create(self, ctx: WorkspaceContext, body: schemas.CampaignCreate) -> Campaign:
        values = self._columns(body)
        values.setdefault("send_mode", "now")
        values.setdefault("timezone", "UTC")
        await self._check_references(ctx.workspace_id, values)
        return await self.campaigns.add(Campaign(workspace_id=ctx.workspace_id, **values))

    async def update(
        self, ctx: WorkspaceContext, campaign_id: uuid.UUID, body: schemas.CampaignUpdate
    ) -> Campaign:
        campaign = await self.get(ctx, campaign_id, for_update=True)
        if campaign.status not in EDITABLE:
            raise Conflict(
                f"a {campaign.status} campaign cannot be changed; only drafts can "
                "(unschedule a scheduled one first)"
            )
        values = self._columns(body)
        await self._check_references(ctx.workspace_id, values)
        for key, value in values.items():
            setattr(campaign, key, value)
        return await self.campaigns.save(campaign)

    async def delete(self, ctx: WorkspaceContext, campaign_id: uuid.UUID) -> None:
        campaign = await self.get(ctx, campaign_id, for_update=True)
        if campaign.status not in DELETABLE:
            raise Conflict(
                f"a {campaign.status} campaign cannot be deleted; cancel it first"
                if campaign.status != CampaignStatus.sent
                else "a sent campaign cannot be deleted: its ledger is the record of who got it"
            )
        await self.campaigns.delete(campaign)

    async def duplicate(self, ctx: WorkspaceContext, campaign_id: uuid.UUID) -> Campaign:
        """A draft copy: same content, audience, schedule settings and A/B test."""
        source = await self.get(ctx, campaign_id)
        copied = {
            key: getattr(source, key)
            for key in (
                "subject",
                "preheader",
                "template_id",
                "sender_id",
                "list_ids",
                "segment_ids",
                "exclude_list_ids",
                "exclude_segment_ids",
                "send_mode",
                "send_at",
                "local_send_at",
                "timezone",
                "send_time_optimisation",
                "ab_test",
            )
        }
        name = f"Copy of {source.name}"[:200]
        return await self.campaigns.add(
            Campaign(workspace_id=ctx.workspace_id, name=name, **copied)
        )

    # -- starting ---------------------------------------------------------------------

    def _composer_parts(self) -> DeliveryParts:
        if self.parts is None:
            raise ServiceUnavailable(
                "no message composer and transport are configured on this server"
            )
        return self.parts

    @staticmethod
    def _not_ready(campaign: Campaign) -> list[str]:
        variants = campaign.ab_test["variants"] if campaign.ab_test else []
        missing = []
        if not (campaign.list_ids or campaign.segment_ids):
            missing.append("audience (a list or a segment)")
        if not campaign.subject and (not variants or any(not v["subject"] for v in variants)):
            missing.append("subject")
        if not campaign.template_id and (
            not variants or any(not v["template_id"] for v in variants)
        ):
            missing.append("template")
        if not campaign.sender_id:
            missing.append("sender")
        return missing

    async def content_problems(self, campaign: Campaign) -> list[str]:
        """CAN-SPAM: what the content lacks (an unsubscribe link, the postal address)."""
        postal_address = await self.campaigns.postal_address(campaign.workspace_id)
        missing = [] if postal_address.strip() else [POSTAL_ADDRESS]
        found = await self._composer_parts().composer.check(content_of(campaign, postal_address))
        return list(dict.fromkeys([*found, *missing]))

    @staticmethod
    def _start_time(campaign: Campaign, now: datetime) -> datetime:
        if campaign.send_time_optimisation and campaign.send_mode == "local_time":
            raise _unprocessable(
                "send_time_optimisation",
                "send-time optimisation picks each contact's hour itself; it cannot be "
                "combined with send_mode local_time (use now or at)",
            )
        if campaign.send_mode == "at":
            assert campaign.send_at is not None
            if campaign.send_at < now - PAST_TOLERANCE:
                raise _unprocessable("schedule.send_at", "send_at is in the past")
            return max(campaign.send_at, now)
        if campaign.send_mode == "local_time":
            assert campaign.local_send_at is not None
            wall = campaign.local_send_at.replace(tzinfo=UTC)
            if wall + LATEST_OFFSET < now - PAST_TOLERANCE:
                raise _unprocessable(
                    "schedule.local_send_at", "local_send_at has passed in every timezone"
                )
            return max(wall - EARLIEST_OFFSET, now)
        return now

    async def start(
        self, ctx: WorkspaceContext, campaign_id: uuid.UUID, body: schemas.StartRequest
    ) -> Campaign:
        """draft → scheduled: the scheduler makes the ledger and starts sending when
        the start time comes (at once for `now`)."""
        campaign = await self.get(ctx, campaign_id, for_update=True)
        require(campaign.status, CampaignStatus.scheduled)
        if body.schedule is not None:
            for key, value in body.schedule.model_dump().items():
                setattr(campaign, key, value)
        missing = self._not_ready(campaign)
        if missing:
            raise CampaignNotReady("the campaign cannot start without", missing)
        problems = await self.content_problems(campaign)
        if problems:
            raise CampaignNotReady("the campaign's content lacks (CAN-SPAM)", problems)
        campaign.scheduled_at = self._start_time(campaign, datetime.now(UTC))
        previous = campaign.status
        campaign.status = CampaignStatus.scheduled
        campaign.failure_reason = None
        # The scheduler's and senders' spans of this send continue the request's trace.
        campaign.trace_context = current_trace_context()
        announce_state_change(
            self.session, campaign.workspace_id, campaign.id, campaign.status, previous=previous
        )
        return await self.campaigns.save(campaign)

    async def _move(
        self, ctx: WorkspaceContext, campaign_id: uuid.UUID, target: CampaignStatus
    ) -> Campaign:
        campaign = await self.get(ctx, campaign_id, for_update=True)
        require(campaign.status, target)
        previous = campaign.status
        campaign.status = target
        # Live sockets and webhooks hear of it once the request's transaction commits.
        announce_state_change(
            self.session, campaign.workspace_id, campaign.id, target, previous=previous
        )
        if target is CampaignStatus.draft:
            campaign.scheduled_at = None
        if target is CampaignStatus.cancelled:
            campaign.finished_at = datetime.now(UTC)
            await self.deliveries.skip_pending(campaign.workspace_id, campaign.id)
        return await self.campaigns.save(campaign)

    async def unschedule(self, ctx: WorkspaceContext, campaign_id: uuid.UUID) -> Campaign:
        return await self._move(ctx, campaign_id, CampaignStatus.draft)

    async def pause(self, ctx: WorkspaceContext, campaign_id: uuid.UUID) -> Campaign:
        return await self._move(ctx, campaign_id, CampaignStatus.paused)

    async def resume(self, ctx: WorkspaceContext, campaign_id: uuid.UUID) -> Campaign:
        return await self._move(ctx, campaign_id, CampaignStatus.sending)

    async def cancel(self, ctx: WorkspaceContext, campaign_id: uuid.UUID) -> Campaign:
        return await self._move(ctx, campaign_id, CampaignStatus.cancelled)

    # -- test sends -------------------------------------------------------------------

    async def test_send(
        self, ctx: WorkspaceContext, campaign_id: uuid.UUID, body: schemas.TestSendRequest
    ) -> schemas.TestSendOut:
        """Compose and send at once to the given addresses, personalised with the
        matching contact's data where one exists. Nothing is written to the ledger:
        test recipients are not the audience, and a test must not count as sent."""
        campaign = await self.get(ctx, campaign_id)
        emails = []
        for i, raw in enumerate(body.emails):
            try:
                emails.append(normalize_email(raw))
            except InvalidAddress as exc:
                raise _unprocessable(
                    f"emails.{i}", f"{raw!r} is not a valid address: {exc}"
                ) from exc
        if body.variant is not None and (
            not campaign.ab_test or body.variant not in variant_names(campaign.ab_test)
        ):
            raise _unprocessable("variant", f"the campaign has no variant {body.variant}")
        parts = self._composer_parts()
        postal_address = await self.campaigns.postal_address(ctx.workspace_id)
        try:
            prepared = await parts.composer.prepare(content_of(campaign, postal_address))
        except CampaignUnsendable as exc:
            raise Conflict(f"the campaign cannot be composed: {exc}") from exc
        contacts = ContactRepository(self.session)
        messages = []
        for email in emails:
            contact = await contacts.get_by_email(ctx.workspace_id, email)
            row = ContactRow(
                id=contact.id if contact else None,
                email=email,
                first_name=contact.first_name if contact else "",
                last_name=contact.last_name if contact else "",
                timezone=contact.timezone if contact else None,
                locale=contact.locale if contact else None,
                fields=contact.fields if contact else {},
                tags=tuple(contact.tags) if contact else (),
            )
            delivery = DeliveryRow(
                id=None,
                workspace_id=ctx.workspace_id,
                campaign_id=campaign.id,
                contact_id=row.id,
                email=email,
                variant=body.variant,
                attempts=1,
            )
            try:
                messages.append(prepared.compose(delivery, row))
            except Exception as exc:
                raise Conflict(f"the message for {email} could not be composed: {exc}") from exc
        try:
            results = await parts.transport.send(messages)
        except Exception as exc:
            raise ServiceUnavailable(f"the transport failed: {exc}") from exc
        return schemas.TestSendOut(
            results=[
                schemas.TestSendResult(
                    email=email,
                    outcome=result.outcome.value,
                    code=result.code,
                    detail=result.detail,
                )
                for email, result in zip(emails, results, strict=True)
            ]
        )

    # -- A/B and progress -------------------------------------------------------------

    async def choose_winner(
        self, ctx: WorkspaceContext, campaign_id: uuid.UUID, variant: str
    ) -> Campaign:
        campaign = await self.get(ctx, campaign_id, for_update=True)
        if not campaign.ab_test:
            raise Conflict("the campaign has no A/B test")
        if variant not in variant_names(campaign.ab_test):
            raise _unprocessable("variant", f"the campaign has no variant {variant}")
        if campaign.ab_winner is not None:
            raise Conflict(f"the winner was chosen already: variant {campaign.ab_winner}")
        if campaign.status not in DECIDABLE:
            raise Conflict(
                f"a winner can only be chosen once the test is sending, not when {campaign.status}"
            )
        await self.engine.declare_winner(campaign, variant)
        return await self.campaigns.save(campaign)

    async def progress(self, ctx: WorkspaceContext, campaign_id: uuid.UUID) -> schemas.ProgressOut:
        campaign = await self.get(ctx, campaign_id)
        counts = await self.deliveries.counts(ctx.workspace_id, campaign.id)
        variants = []
        if campaign.ab_test:
            event = METRIC_EVENTS[campaign.ab_test["metric"]]
            stats = await self.deliveries.variant_engagement(ctx.workspace_id, campaign.id, event)
            for name in variant_names(campaign.ab_test):
                sent, engaged = stats.get(name, (0, 0))
                variants.append(
                    schemas.VariantProgress(
                        name=name, sent=sent, engaged=engaged, rate=rate(sent, engaged)
                    )
                )
        return schemas.ProgressOut(
            campaign_id=campaign.id,
            status=CampaignStatus(campaign.status),
            total=sum(counts.values()),
            counts=counts,
            variants=variants,
            winner=campaign.ab_winner,
        )
