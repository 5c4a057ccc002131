"""Request and response models for campaigns, A/B tests, test sends and progress."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from maily.campaigns.states import CampaignStatus
from maily.kit.schemas import ORMSchema, Schema, Timezone

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Header text: no line breaks, so a subject can never inject headers.
HeaderText = Annotated[str, StringConstraints(max_length=998, pattern=r"^[^\r\n]*$")]
Preheader = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\r\n]*$")]
SendMode = Literal["now", "at", "local_time"]
Metric = Literal["opens", "clicks"]
VARIANT_NAMES = "ABCDE"
IdList = Annotated[list[uuid.UUID], Field(max_length=50)]


class VariantIn(Schema):
    subject: HeaderText | None = None
    template_id: uuid.UUID | None = None


class ABTestIn(Schema):
    variants: list[VariantIn] = Field(min_length=2, max_length=5)
    # Share of the audience that gets the test, split evenly between the variants.
    test_percent: int = Field(default=20, ge=1, le=100)
    metric: Metric = "opens"
    # How long after the last test send the winner is picked.
    wait_minutes: int = Field(default=240, ge=1, le=60 * 24 * 14)

    @model_validator(mode="after")
    def _variants_differ(self) -> ABTestIn:
        if any(v.subject is None and v.template_id is None for v in self.variants):
            raise ValueError("each variant needs a subject or a template_id of its own")
        return self


class Schedule(Schema):
    """When to send: `now` when started, `at` a moment, or `local_time` — a wall-clock
    time reached in each contact's own timezone (the campaign's `timezone` for
    contacts without one), sent out as waves."""

    send_mode: SendMode = "now"
    send_at: datetime | None = None
    local_send_at: datetime | None = Field(
        default=None, description="Wall-clock time without an offset, e.g. 2026-12-24T09:00:00"
    )
    timezone: Timezone = "UTC"

    @model_validator(mode="after")
    def _fits_mode(self) -> Schedule:
        for moment in (self.send_at, self.local_send_at):
            if moment is not None and not 2000 <= moment.year <= 2999:
                raise ValueError("send times must fall between the years 2000 and 2999")
        if self.send_mode == "at" and self.send_at is None:
            raise ValueError("send_mode 'at' needs send_at")
        if self.send_at is not None and self.send_at.tzinfo is None:
            raise ValueError("send_at needs a timezone offset (or Z)")
        # Checked in every mode: it is stored as given, and read when the mode changes.
        if self.local_send_at is not None and self.local_send_at.tzinfo is not None:
            raise ValueError("local_send_at is a wall-clock time: leave out the offset")
        if self.send_mode == "local_time" and self.local_send_at is None:
            raise ValueError("send_mode 'local_time' needs local_send_at")
        return self


SEND_TIME_OPTIMISATION = (
    "Deliver each recipient at their own best hour within the 24 hours after the start "
    "(learnt from their opens and clicks; the workspace's pattern for new contacts). "
    "Not with send_mode local_time."
)


class CampaignCreate(Schema):
    name: Name
    subject: HeaderText = ""
    preheader: Preheader = ""
    template_id: uuid.UUID | None = None
    sender_id: uuid.UUID | None = None
    list_ids: IdList = Field(default_factory=list)
    segment_ids: IdList = Field(default_factory=list)
    exclude_list_ids: IdList = Field(default_factory=list)
    exclude_segment_ids: IdList = Field(default_factory=list)
    schedule: Schedule = Field(default_factory=Schedule)
    send_time_optimisation: bool = Field(default=False, description=SEND_TIME_OPTIMISATION)
    ab_test: ABTestIn | None = None


class CampaignUpdate(Schema):
    """Only the fields given change; `ab_test: null` removes the test."""

    name: Name | None = None
    subject: HeaderText | None = None
    preheader: Preheader | None = None
    template_id: uuid.UUID | None = None
    sender_id: uuid.UUID | None = None
    list_ids: IdList | None = None
    segment_ids: IdList | None = None
    exclude_list_ids: IdList | None = None
    exclude_segment_ids: IdList | None = None
    schedule: Schedule | None = None
    send_time_optimisation: bool | None = Field(default=None, description=SEND_TIME_OPTIMISATION)
    ab_test: ABTestIn | None = None


class VariantOut(Schema):
    name: str
    subject: str | None
    template_id: uuid.UUID | None


class ABTestOut(Schema):
    variants: list[VariantOut]
    test_percent: int
    metric: Metric
    wait_minutes: int
    decide_at: datetime | None
    winner: str | None


class CampaignOut(ORMSchema):
    id: uuid.UUID
    name: str
    status: CampaignStatus
    subject: str
    preheader: str
    template_id: uuid.UUID | None
    sender_id: uuid.UUID | None
    list_ids: list[uuid.UUID]
    segment_ids: list[uuid.UUID]
    exclude_list_ids: list[uuid.UUID]
    exclude_segment_ids: list[uuid.UUID]
    schedule: Schedule
    send_time_optimisation: bool
    ab_test: ABTestOut | None
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    audience_size: int | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime


class StartRequest(Schema):
    """Optional: a schedule given here replaces the campaign's own before it starts."""

    schedule: Schedule | None = None


class TestSendRequest(Schema):
    emails: list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]] = Field(
        min_length=1, max_length=10
    )
    variant: Annotated[str, StringConstraints(pattern=r"^[A-E]$")] | None = None


class TestSendResult(Schema):
    email: str
    outcome: str
    code: int | None
    detail: str


class TestSendOut(Schema):
    """Test sends go straight to the transport and are not kept in the ledger."""

    results: list[TestSendResult]


class WinnerRequest(Schema):
    variant: Annotated[str, StringConstraints(pattern=r"^[A-E]$")]


class VariantProgress(Schema):
    name: str
    sent: int
    engaged: int
    rate: float


class ProgressOut(Schema):
    campaign_id: uuid.UUID
    status: CampaignStatus
    total: int
    counts: dict[str, int]
    variants: list[VariantProgress] = Field(default_factory=list)
    winner: str | None = None
