"""HTTP routes of the model-free insights: a contact's best send hours, engagement
score and churn risk; a campaign's A/B significance; and the content check
(compliance rules and SpamAssassin). None needs `maily ai` or a model."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from maily.ai.checks.spam import SpamdClient
from maily.ai.contracts import CheckReport, SpamChecker
from maily.ai.insights import schemas
from maily.ai.insights.auth import ContentCheckAccess, InsightsRead
from maily.ai.insights.service import ContentCheck, InsightsService
from maily.api.deps import SessionDep, SettingsDep
from maily.api.state import app_state

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}", tags=["insights"])


def get_spam_checker(request: Request) -> SpamChecker:
    """SpamAssassin as configured (MAILY_SPAMD__HOST / __PORT / __TIMEOUT_SECONDS)."""
    return SpamdClient.from_settings(app_state(request).settings.spamd)


SpamCheckerDep = Annotated[SpamChecker, Depends(get_spam_checker)]


@router.get(
    "/insights/contacts/{contact_id}",
    operation_id="insights_contact",
    response_model=schemas.ContactInsights,
    responses={404: {"description": "The contact does not exist in this workspace"}},
)
async def contact_insights(
    contact_id: uuid.UUID, ctx: InsightsRead, session: SessionDep
) -> schemas.ContactInsights:
    """The contact's best send hours (local hour of the week, and the next of each in
    their timezone), engagement score and churn risk — each with `insufficient_data`
    and the threshold when there is too little history to say."""
    return await InsightsService(session).contact(ctx, contact_id)


@router.get(
    "/insights/campaigns/{campaign_id}/ab",
    operation_id="insights_campaign_ab",
    response_model=schemas.ABSignificance,
    responses={404: {"description": "The campaign does not exist in this workspace"}},
)
async def campaign_ab_significance(
    campaign_id: uuid.UUID, ctx: InsightsRead, session: SessionDep
) -> schemas.ABSignificance:
    """Per variant: sends, human unique opens and clicks; the leader against each other
    variant on both (p-value, confidence, probability to beat) and a plain verdict."""
    return await InsightsService(session).ab(ctx, campaign_id)


@router.post(
    "/content-check",
    operation_id="content_check",
    response_model=CheckReport,
    responses={
        404: {"description": "The template does not exist in this workspace"},
        422: {"description": "The content does not compile or render"},
    },
)
async def content_check(
    body: schemas.ContentCheckRequest,
    ctx: ContentCheckAccess,
    session: SessionDep,
    settings: SettingsDep,
    spam: SpamCheckerDep,
) -> CheckReport:
    """Render the subject with MJML (or a template's current version) for a sample
    contact, then run the compliance checks and SpamAssassin over the message. When
    spamd cannot be reached the report still answers, with `spam` null and a warning."""
    return await ContentCheck(session, settings, spam).check(ctx, body)
