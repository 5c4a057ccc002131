"""HTTP routes for reports: a campaign (figures, links, domains, timeline), the
workspace dashboard and a contact's activity, each as JSON or CSV (`?format=csv`)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from maily.api.deps import SessionDep
from maily.reports import schemas, tables
from maily.reports.auth import ReportsRead
from maily.reports.service import ReportService

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/reports", tags=["reports"])
CAMPAIGN = "/campaigns/{campaign_id}"
EventType = Literal["sent", "delivered", "open", "click", "bounce", "complaint", "unsubscribe"]
Format = Annotated[
    schemas.ReportFormat,
    Query(description="json, or csv for a spreadsheet (formula-like cells are escaped)"),
]


def _responses(not_found: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": {"text/csv": {}}, "description": "The report (JSON, or CSV)"},
        404: {"description": not_found},
    }


CAMPAIGN_RESPONSES = _responses("The campaign does not exist in this workspace")


@router.get(
    CAMPAIGN,
    operation_id="reports_campaign",
    response_model=schemas.CampaignReport,
    responses=CAMPAIGN_RESPONSES,
)
async def campaign_report(
    campaign_id: uuid.UUID,
    ctx: ReportsRead,
    session: SessionDep,
    format: Format = schemas.ReportFormat.json,
) -> Any:
    """Sent, delivered, bounces by type, opens and clicks (total, human, unique, unique
    human), unsubscribes, complaints and their rates, for the campaign and each A/B
    variant. `delivered_source` says whether delivered counts provider notices or, when
    the campaign has none, sent minus bounces."""
    report = await ReportService(session).campaign(ctx, campaign_id)
    return tables.campaign_csv(report) if format is schemas.ReportFormat.csv else report


@router.get(
    f"{CAMPAIGN}/links",
    operation_id="reports_campaign_links",
    response_model=schemas.LinkReport,
    responses=CAMPAIGN_RESPONSES,
)
async def campaign_links(
    campaign_id: uuid.UUID,
    ctx: ReportsRead,
    session: SessionDep,
    format: Format = schemas.ReportFormat.json,
) -> Any:
    """Clicks per link of each variant's content."""
    report = await ReportService(session).links(ctx, campaign_id)
    return tables.links_csv(report) if format is schemas.ReportFormat.csv else report


@router.get(
    f"{CAMPAIGN}/domains",
    operation_id="reports_campaign_domains",
    response_model=schemas.DomainReport,
    responses=CAMPAIGN_RESPONSES,
)
async def campaign_domains(
    campaign_id: uuid.UUID,
    ctx: ReportsRead,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=5000, description="Domains, most sent first")] = 100,
    format: Format = schemas.ReportFormat.json,
) -> Any:
    """Figures per recipient domain (gmail.com, outlook.com, ...)."""
    report = await ReportService(session).domains(ctx, campaign_id, limit)
    return tables.domains_csv(report) if format is schemas.ReportFormat.csv else report


@router.get(
    f"{CAMPAIGN}/timeline",
    operation_id="reports_campaign_timeline",
    response_model=schemas.TimelineReport,
    responses=CAMPAIGN_RESPONSES | {400: {"description": "Too many buckets for hourly"}},
)
async def campaign_timeline(
    campaign_id: uuid.UUID,
    ctx: ReportsRead,
    session: SessionDep,
    bucket: Annotated[
        schemas.TimelineBucket,
        Query(description="hour, day (UTC), or auto: hourly for up to 72 hours of figures"),
    ] = schemas.TimelineBucket.auto,
    format: Format = schemas.ReportFormat.json,
) -> Any:
    """The campaign's figures over time, gaps filled with zeros."""
    report = await ReportService(session).timeline(ctx, campaign_id, bucket)
    return tables.timeline_csv(report) if format is schemas.ReportFormat.csv else report


@router.get(
    "/dashboard",
    operation_id="reports_dashboard",
    response_model=schemas.DashboardReport,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The dashboard (JSON, or CSV)"},
        400: {"description": "from is after to, or the period is too long"},
    },
)
async def dashboard(
    ctx: ReportsRead,
    session: SessionDep,
    from_: Annotated[
        date | None, Query(alias="from", description="First day (UTC); default: 29 days before to")
    ] = None,
    to: Annotated[
        date | None, Query(description="Last day (UTC), included; default: today")
    ] = None,
    bucket: Annotated[schemas.DashboardBucket, Query(description="day, or week (from Monday)")] = (
        schemas.DashboardBucket.day
    ),
    format: Format = schemas.ReportFormat.json,
) -> Any:
    """The workspace's campaigns together over a period: totals, rates and a series,
    against the previous period of the same length."""
    report = await ReportService(session).dashboard(ctx, from_, to, bucket)
    return tables.dashboard_csv(report) if format is schemas.ReportFormat.csv else report


@router.get(
    "/contacts/{contact_id}/activity",
    operation_id="reports_contact_activity",
    response_model=schemas.ActivityPage,
    responses=_responses("The contact does not exist in this workspace")
    | {400: {"description": "The cursor is not valid"}},
)
async def contact_activity(
    contact_id: uuid.UUID,
    ctx: ReportsRead,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200, description="Events per page")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page")
    ] = None,
    type_: Annotated[list[EventType] | None, Query(alias="type", description="Only these")] = None,
    format: Format = schemas.ReportFormat.json,
) -> Any:
    """The contact's events, newest first, with the campaign each belongs to."""
    page = await ReportService(session).activity(ctx, contact_id, limit, cursor, type_ or [])
    if format is schemas.ReportFormat.csv:
        return tables.activity_csv(str(contact_id), page)
    return page
