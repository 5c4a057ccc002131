"""Response models of the reports: counts as the rollups keep them, rates derived from them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from maily.kit.schemas import Schema

# How `delivered` was obtained: counted from provider delivery notices, or — for a
# campaign that has none (plain SMTP relays send no such notice) — sent minus bounces.
DeliveredSource = Literal["provider", "sent_minus_bounces"]


class TimelineBucket(StrEnum):
    auto = "auto"
    hour = "hour"
    day = "day"


class DashboardBucket(StrEnum):
    day = "day"
    week = "week"


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"


class Counts(Schema):
    """Counters side by side: total, human (machine opens and clicks left out), unique
    (one per recipient) and unique human."""

    sent: int = 0
    delivered: int = 0
    bounces: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    opens: int = 0
    human_opens: int = 0
    unique_opens: int = 0
    unique_human_opens: int = 0
    clicks: int = 0
    human_clicks: int = 0
    unique_clicks: int = 0
    unique_human_clicks: int = 0


class Rates(Schema):
    """Fractions (0.25 is 25%); null when the denominator is zero."""

    delivery_rate: float | None = Field(None, description="delivered / sent")
    bounce_rate: float | None = Field(None, description="bounces / sent")
    hard_bounce_rate: float | None = Field(None, description="hard bounces / sent")
    open_rate: float | None = Field(None, description="unique opens / delivered")
    human_open_rate: float | None = Field(None, description="unique human opens / delivered")
    click_rate: float | None = Field(None, description="CTR: unique clicks / delivered")
    human_click_rate: float | None = Field(None, description="unique human clicks / delivered")
    click_to_open_rate: float | None = Field(None, description="unique clicks / unique opens")
    human_click_to_open_rate: float | None = Field(
        None, description="unique human clicks / unique human opens"
    )
    unsubscribe_rate: float | None = Field(None, description="unsubscribes / delivered")
    complaint_rate: float | None = Field(None, description="complaints / delivered")


class Figures(Schema):
    counts: Counts
    rates: Rates
    delivered_source: DeliveredSource


class CampaignRef(Schema):
    id: uuid.UUID
    name: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None


class VariantFigures(Schema):
    variant: str
    subject: str | None = None
    winner: bool = False
    figures: Figures


class CampaignReport(Schema):
    campaign: CampaignRef
    figures: Figures
    variants: list[VariantFigures] = Field(
        description="One entry per A/B variant; empty for a campaign without a test"
    )


class LinkFigures(Schema):
    variant: str = Field(description="A/B variant whose content has the link; '' for none")
    link_index: int
    url: str
    clicks: int
    human_clicks: int
    unique_clicks: int
    unique_human_clicks: int
    click_rate: float | None = Field(None, description="unique clicks / delivered (same variant)")
    click_share: float | None = Field(
        None, description="share of the variant's unique clicks that went to this link"
    )


class LinkReport(Schema):
    campaign: CampaignRef
    links: list[LinkFigures]


class DomainFigures(Schema):
    domain: str
    sent: int
    delivered: int
    bounces: int
    hard_bounces: int
    soft_bounces: int
    complaints: int
    opens: int
    unique_opens: int
    clicks: int
    unique_clicks: int
    delivery_rate: float | None
    bounce_rate: float | None
    open_rate: float | None
    click_rate: float | None
    complaint_rate: float | None


class DomainReport(Schema):
    campaign: CampaignRef
    delivered_source: DeliveredSource
    domains: list[DomainFigures] = Field(description="Most sent first")
    total_domains: int


class TimelinePoint(Schema):
    start: datetime = Field(description="Start of the bucket (UTC)")
    counts: Counts
    rates: Rates


class TimelineReport(Schema):
    campaign: CampaignRef
    bucket: Literal["hour", "day"]
    delivered_source: DeliveredSource
    points: list[TimelinePoint]


class Change(Schema):
    current: float | None
    previous: float | None
    difference: float | None
    relative: float | None = Field(description="difference / previous; null when previous is 0")


class Period(Schema):
    from_: date = Field(alias="from", serialization_alias="from")
    to: date

    model_config = {"populate_by_name": True}


class DashboardReport(Schema):
    period: Period
    previous_period: Period
    bucket: DashboardBucket
    campaigns: int = Field(description="Campaigns with any sends or events in the period")
    previous_campaigns: int
    derived_delivered_campaigns: int = Field(
        description="Campaigns of the period without provider delivery notices, whose "
        "delivered is counted as sent minus bounces"
    )
    totals: Counts
    rates: Rates
    previous_totals: Counts
    previous_rates: Rates
    changes: dict[str, Change] = Field(
        description="Every count and rate against the previous period"
    )
    series: list[TimelinePoint]


class ActivityItem(Schema):
    id: uuid.UUID
    occurred_at: datetime
    type: str
    campaign_id: uuid.UUID | None
    campaign_name: str | None
    variant: str | None
    machine: str | None = Field(description="Why it was taken for a machine's; null for a person")
    link_index: int | None
    url: str | None
    data: dict[str, Any]


class ActivityPage(Schema):
    items: list[ActivityItem]
    next_cursor: str | None = None
