"""HTTP routes for campaigns: CRUD, start/pause/resume/cancel, test sends, A/B, progress."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from maily.api.deps import SessionDep
from maily.campaigns import schemas
from maily.campaigns.auth import CampaignsRead, CampaignsSend, CampaignsWrite
from maily.campaigns.service import CampaignService
from maily.campaigns.states import CampaignStatus
from maily.delivery.parts import DeliveryPartsDep
from maily.kit.pagination import Page, PageParams, make_page, page_params
from maily.models import Campaign

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/campaigns", tags=["campaigns"])
Paging = Annotated[PageParams, Depends(page_params)]
ONE = "/{campaign_id}"
NOT_ALLOWED_NOW: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed in the campaign's current state"}
}


def campaign_out(campaign: Campaign) -> schemas.CampaignOut:
    ab = campaign.ab_test
    return schemas.CampaignOut(
        id=campaign.id,
        name=campaign.name,
        status=CampaignStatus(campaign.status),
        subject=campaign.subject,
        preheader=campaign.preheader,
        template_id=campaign.template_id,
        sender_id=campaign.sender_id,
        list_ids=list(campaign.list_ids),
        segment_ids=list(campaign.segment_ids),
        exclude_list_ids=list(campaign.exclude_list_ids),
        exclude_segment_ids=list(campaign.exclude_segment_ids),
        schedule=schemas.Schedule.model_construct(
            send_mode=campaign.send_mode,  # type: ignore[arg-type]
            send_at=campaign.send_at,
            local_send_at=campaign.local_send_at,
            timezone=campaign.timezone,
        ),
        send_time_optimisation=campaign.send_time_optimisation,
        ab_test=schemas.ABTestOut(
            variants=[schemas.VariantOut.model_validate(v) for v in ab["variants"]],
            test_percent=ab["test_percent"],
            metric=ab["metric"],
            wait_minutes=ab["wait_minutes"],
            decide_at=campaign.ab_decide_at,
            winner=campaign.ab_winner,
        )
        if ab
        else None,
        scheduled_at=campaign.scheduled_at,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        audience_size=campaign.audience_size,
        failure_reason=campaign.failure_reason,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
    )


@router.get("", operation_id="campaigns_list")
async def list_campaigns(
    ctx: CampaignsRead,
    paging: Paging,
    session: SessionDep,
    status_: Annotated[CampaignStatus | None, Query(alias="status")] = None,
) -> Page[schemas.CampaignOut]:
    """Newest first."""
    rows = await CampaignService(session).page(ctx, paging, status_)
    return make_page([campaign_out(c) for c in rows], paging, lambda c: c.id)


@router.post("", operation_id="campaigns_create", status_code=status.HTTP_201_CREATED)
async def create_campaign(
    body: schemas.CampaignCreate, ctx: CampaignsWrite, session: SessionDep
) -> schemas.CampaignOut:
    return campaign_out(await CampaignService(session).create(ctx, body))


@router.get(ONE, operation_id="campaigns_get")
async def get_campaign(
    campaign_id: uuid.UUID, ctx: CampaignsRead, session: SessionDep
) -> schemas.CampaignOut:
    return campaign_out(await CampaignService(session).get(ctx, campaign_id))


@router.patch(ONE, operation_id="campaigns_update", responses=NOT_ALLOWED_NOW)
async def update_campaign(
    campaign_id: uuid.UUID, body: schemas.CampaignUpdate, ctx: CampaignsWrite, session: SessionDep
) -> schemas.CampaignOut:
    """Only drafts can be changed."""
    return campaign_out(await CampaignService(session).update(ctx, campaign_id, body))


@router.delete(
    ONE,
    operation_id="campaigns_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_ALLOWED_NOW,
)
async def delete_campaign(campaign_id: uuid.UUID, ctx: CampaignsWrite, session: SessionDep) -> None:
    """Drafts, cancelled and failed campaigns can be deleted, with their ledger."""
    await CampaignService(session).delete(ctx, campaign_id)


@router.post(
    f"{ONE}/duplicate", operation_id="campaigns_duplicate", status_code=status.HTTP_201_CREATED
)
async def duplicate_campaign(
    campaign_id: uuid.UUID, ctx: CampaignsWrite, session: SessionDep
) -> schemas.CampaignOut:
    """A copy as a new draft."""
    return campaign_out(await CampaignService(session).duplicate(ctx, campaign_id))


@router.post(f"{ONE}/start", operation_id="campaigns_start", responses=NOT_ALLOWED_NOW)
async def start_campaign(
    campaign_id: uuid.UUID,
    ctx: CampaignsSend,
    session: SessionDep,
    parts: DeliveryPartsDep,
    body: schemas.StartRequest | None = None,
) -> schemas.CampaignOut:
    """draft → scheduled. Refused (409) when the campaign lacks an audience, subject,
    template or sender, or its content lacks an unsubscribe link or the workspace's
    postal address (CAN-SPAM); the error names what is missing."""
    return campaign_out(
        await CampaignService(session, parts).start(
            ctx, campaign_id, body or schemas.StartRequest()
        )
    )


@router.post(f"{ONE}/unschedule", operation_id="campaigns_unschedule", responses=NOT_ALLOWED_NOW)
async def unschedule_campaign(
    campaign_id: uuid.UUID, ctx: CampaignsSend, session: SessionDep
) -> schemas.CampaignOut:
    """scheduled → draft, to edit it again."""
    return campaign_out(await CampaignService(session).unschedule(ctx, campaign_id))


@router.post(f"{ONE}/pause", operation_id="campaigns_pause", responses=NOT_ALLOWED_NOW)
async def pause_campaign(
    campaign_id: uuid.UUID, ctx: CampaignsSend, session: SessionDep
) -> schemas.CampaignOut:
    """sending → paused; senders lease none of its rows from their next batch on."""
    return campaign_out(await CampaignService(session).pause(ctx, campaign_id))


@router.post(f"{ONE}/resume", operation_id="campaigns_resume", responses=NOT_ALLOWED_NOW)
async def resume_campaign(
    campaign_id: uuid.UUID, ctx: CampaignsSend, session: SessionDep
) -> schemas.CampaignOut:
    """paused → sending; only rows not sent yet go out."""
    return campaign_out(await CampaignService(session).resume(ctx, campaign_id))


@router.post(f"{ONE}/cancel", operation_id="campaigns_cancel", responses=NOT_ALLOWED_NOW)
async def cancel_campaign(
    campaign_id: uuid.UUID, ctx: CampaignsSend, session: SessionDep
) -> schemas.CampaignOut:
    """→ cancelled; deliveries not leased yet are settled as skipped."""
    return campaign_out(await CampaignService(session).cancel(ctx, campaign_id))


@router.post(f"{ONE}/test-send", operation_id="campaigns_test_send")
async def test_send(
    campaign_id: uuid.UUID,
    body: schemas.TestSendRequest,
    ctx: CampaignsSend,
    session: SessionDep,
    parts: DeliveryPartsDep,
) -> schemas.TestSendOut:
    """Send the campaign now to up to 10 addresses. Not recorded in the ledger."""
    return await CampaignService(session, parts).test_send(ctx, campaign_id, body)


@router.post(f"{ONE}/ab-winner", operation_id="campaigns_choose_winner", responses=NOT_ALLOWED_NOW)
async def choose_winner(
    campaign_id: uuid.UUID, body: schemas.WinnerRequest, ctx: CampaignsSend, session: SessionDep
) -> schemas.CampaignOut:
    """Pick the A/B winner by hand; the held-back audience gets it."""
    return campaign_out(
        await CampaignService(session).choose_winner(ctx, campaign_id, body.variant)
    )


@router.get(f"{ONE}/progress", operation_id="campaigns_progress")
async def campaign_progress(
    campaign_id: uuid.UUID, ctx: CampaignsRead, session: SessionDep
) -> schemas.ProgressOut:
    """Deliveries per state, and per A/B variant the sends and engagement so far."""
    return await CampaignService(session).progress(ctx, campaign_id)
