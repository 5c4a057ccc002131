"""Request and response models of the insights and the content check."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from maily.kit.schemas import Schema

InsightStatus = Literal["ok", "insufficient_data"]


class BestHour(Schema):
    hour_of_week: int = Field(
        description="Local hour of the week: 0 = Monday 00:00, 167 = Sunday 23:00"
    )
    weekday: str
    hour: int = Field(description="Local hour of the day, 0-23")
    label: str = Field(description='e.g. "Tuesday 08:00", in the contact\'s timezone')
    share: float = Field(description="Share of the contact's (smoothed) engagement in this hour")
    next_at: datetime = Field(description="The next such hour, with the contact's UTC offset")


class SendTimeInsight(Schema):
    status: InsightStatus
    source: Literal["contact", "workspace"] = Field(
        description="Whose pattern the best hours come from: the contact's own history, "
        "or (with too little of it) the workspace's"
    )
    opens_and_clicks: int = Field(description="Human opens and clicks in the look-back")
    min_opens_and_clicks: int
    lookback_days: int
    best_hours: list[BestHour]
    reason: str = ""


class EngagementInsight(Schema):
    status: Literal["ok", "insufficient_data", "churned"]
    messages: int = Field(description="Messages sent to the contact in the look-back")
    min_messages: int = Field(description="Below this many, status is insufficient_data")
    score: float | None = Field(default=None, description="0-100; see docs/insights.md")
    open_rate: float | None = None
    click_rate: float | None = None
    churn_risk: float | None = Field(default=None, description="0-1")
    risk_level: Literal["low", "medium", "high"] | None = None
    unanswered_in_a_row: int | None = None
    last_engaged_message_sent_at: datetime | None = None
    reason: str = ""


class ContactInsights(Schema):
    contact_id: uuid.UUID
    timezone: str = Field(description="The zone the hours are in (the workspace default if unset)")
    send_time: SendTimeInsight
    engagement: EngagementInsight


class VariantFigures(Schema):
    name: str
    sent: int
    unique_human_opens: int
    unique_human_clicks: int
    open_rate: float
    click_rate: float


class Comparison(Schema):
    leader: str
    other: str
    metric: Literal["opens", "clicks"]
    leader_rate: float
    other_rate: float
    p_value: float | None
    confidence: float | None
    probability_to_beat: float | None = Field(
        description="Bayesian probability that the leader's true rate is higher"
    )
    significant: bool
    more_recipients_per_variant: int | None
    verdict: str


class ABSignificance(Schema):
    campaign_id: uuid.UUID
    has_ab_test: bool
    metric: Literal["opens", "clicks"] | None = Field(
        default=None, description="The metric the campaign's winner is picked by"
    )
    variants: list[VariantFigures]
    opens: list[Comparison]
    clicks: list[Comparison]
    verdict: str = Field(description="On the campaign's own metric, in a sentence")


class ContentCheckRequest(Schema):
    """Check a subject with MJML source or with a stored template's current version."""

    subject: Annotated[str, StringConstraints(max_length=998, pattern=r"^[^\r\n]*$")]
    preheader: Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\r\n]*$")] | None = (
        None
    )
    mjml: Annotated[str, StringConstraints(min_length=1, max_length=200_000)] | None = None
    template_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ContentCheckRequest:
        if (self.mjml is None) == (self.template_id is None):
            raise ValueError("give either mjml or template_id")
        return self
