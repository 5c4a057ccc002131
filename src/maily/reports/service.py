"""Rules of the reports: how delivered is obtained, how rates are formed, which buckets
a timeline has and what the previous period is. No SQL here (repository.py) and no
HTTP (endpoints.py)."""

from __future__ import annotations

import base64
import struct
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from maily.auth.service import WorkspaceContext
from maily.kit.db import AsyncSession
from maily.kit.errors import BadRequest, NotFound
from maily.models.analytics import CAMPAIGN_COUNTERS
from maily.reports import schemas
from maily.reports.repository import (
    CampaignHeader,
    CounterRow,
    ReportRepository,
)

# A campaign whose figures span at most this long gets an hourly timeline by default.
HOURLY_SPAN = timedelta(hours=72)
MAX_TIMELINE_POINTS = 2_000
MAX_DASHBOARD_DAYS = 731
DEFAULT_DASHBOARD_DAYS = 30
# Far enough for any real period, near enough that a previous period is a real date.
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2999, 12, 31)
RATE_DIGITS = 6


def ratio(numerator: float, denominator: float) -> float | None:
    """A rate, or None when there is nothing to divide by."""
    if not denominator:
        return None
    return round(numerator / denominator, RATE_DIGITS)


def add(total: CounterRow, row: Mapping[str, int]) -> None:
    for name in CAMPAIGN_COUNTERS:
        total[name] = total.get(name, 0) + row.get(name, 0)


def zero() -> CounterRow:
    return dict.fromkeys(CAMPAIGN_COUNTERS, 0)


def total_of(rows: Iterable[Mapping[str, int]]) -> CounterRow:
    total = zero()
    for row in rows:
        add(total, row)
    return total


def counts_of(row: Mapping[str, int], provider_delivered: bool) -> schemas.Counts:
    """Counters as a report shows them. Without provider delivery notices, delivered is
    taken as sent minus bounces (never below zero)."""
    bounces = row.get("hard_bounces", 0) + row.get("soft_bounces", 0)
    values = {name: row.get(name, 0) for name in CAMPAIGN_COUNTERS}
    if not provider_delivered:
        values["delivered"] = max(0, values["sent"] - bounces)
    return schemas.Counts(bounces=bounces, **values)


def rates_of(c: schemas.Counts) -> schemas.Rates:
    return schemas.Rates(
        delivery_rate=ratio(c.delivered, c.sent),
        bounce_rate=ratio(c.bounces, c.sent),
        hard_bounce_rate=ratio(c.hard_bounces, c.sent),
        open_rate=ratio(c.unique_opens, c.delivered),
        human_open_rate=ratio(c.unique_human_opens, c.delivered),
        click_rate=ratio(c.unique_clicks, c.delivered),
        human_click_rate=ratio(c.unique_human_clicks, c.delivered),
        click_to_open_rate=ratio(c.unique_clicks, c.unique_opens),
        human_click_to_open_rate=ratio(c.unique_human_clicks, c.unique_human_opens),
        unsubscribe_rate=ratio(c.unsubscribes, c.delivered),
        complaint_rate=ratio(c.complaints, c.delivered),
    )


def delivered_source(provider: bool) -> schemas.DeliveredSource:
    return "provider" if provider else "sent_minus_bounces"


def figures_of(row: Mapping[str, int], provider: bool) -> schemas.Figures:
    counts = counts_of(row, provider)
    return schemas.Figures(
        counts=counts, rates=rates_of(counts), delivered_source=delivered_source(provider)
    )


def campaign_ref(header: CampaignHeader) -> schemas.CampaignRef:
    return schemas.CampaignRef(
        id=header.id,
        name=header.name,
        status=header.status,
        started_at=header.started_at,
        finished_at=header.finished_at,
    )


def has_provider_deliveries(rows: Iterable[Mapping[str, int]]) -> bool:
    return any(row.get("delivered", 0) > 0 for row in rows)


def change(current: float | None, previous: float | None) -> schemas.Change:
    if current is None or previous is None:
        return schemas.Change(current=current, previous=previous, difference=None, relative=None)
    difference = round(current - previous, RATE_DIGITS)
    return schemas.Change(
        current=current,
        previous=previous,
        difference=difference,
        relative=ratio(difference, previous),
    )


def timeline_unit(
    bucket: schemas.TimelineBucket, first: datetime | None, last: datetime | None
) -> str:
    if bucket is not schemas.TimelineBucket.auto:
        return bucket.value
    if first is None or last is None or last - first <= HOURLY_SPAN:
        return "hour"
    return "day"


def bucket_starts(first: datetime, last: datetime, step: timedelta) -> list[datetime]:
    starts = []
    at = first
    while at <= last:
        starts.append(at)
        at += step
    return starts


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# -- the contact activity cursor: (occurred_at in µs, event id) ------------------------

_CURSOR = struct.Struct(">q16s")


def encode_activity_cursor(occurred_at: datetime, event_id: uuid.UUID) -> str:
    micros = (occurred_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    raw = _CURSOR.pack(micros, event_id.bytes)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_activity_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        micros, id_bytes = _CURSOR.unpack(raw)
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
        return at, uuid.UUID(bytes=id_bytes)
    except (ValueError, TypeError, struct.error, OverflowError) as exc:
        raise BadRequest("cursor is not valid; pass the next_cursor of a previous page") from exc


class ReportService:
    def __init__(self, session: AsyncSession) -> None:
        self.reports = ReportRepository(session)

    async def _campaign(self, ctx: WorkspaceContext, campaign_id: uuid.UUID) -> CampaignHeader:
        header = await self.reports.campaign(ctx.workspace_id, campaign_id)
        if header is None:
            raise NotFound("campaign not found")
        return header

    async def _counters(
        self, ctx: WorkspaceContext, campaign_id: uuid.UUID
    ) -> tuple[dict[str, CounterRow], CounterRow, bool]:
        """The campaign's counters per variant, in total, and whether it has provider
        delivery notices (which decides how delivered is obtained)."""
        by_variant = (await self.reports.variant_counters(ctx.workspace_id, campaign_id)).by_variant
        return (
            by_variant,
            total_of(by_variant.values()),
            has_provider_deliveries(by_variant.values()),
        )

    # -- one campaign ------------------------------------------------------------------

    async def campaign(
        self, ctx: WorkspaceContext, campaign_id: uuid.UUID
    ) -> schemas.CampaignReport:
        header = await self._campaign(ctx, campaign_id)
        by_variant, total, provider = await self._counters(ctx, campaign_id)
        configured = {v.get("name", ""): v for v in ((header.ab_test or {}).get("variants") or [])}
        names = sorted((set(by_variant) | set(configured)) - {""})
        variants = [
            schemas.VariantFigures(
                variant=name,
                subject=configured.get(name, {}).get("subject"),
                winner=header.ab_winner == name,
                figures=figures_of(by_variant.get(name, {}), provider),
            )
            for name in names
        ]
        return schemas.CampaignReport(
            campaign=campaign_ref(header), figures=figures_of(total, provider), variants=variants
        )

    async def links(self, ctx: WorkspaceContext, campaign_id: uuid.UUID) -> schemas.LinkReport:
        header = await self._campaign(ctx, campaign_id)
        by_variant, total, provider = await self._counters(ctx, campaign_id)
        rows = await self.reports.links(ctx.workspace_id, campaign_id)
        # A link of a variant's content is measured against that variant's audience.
        clicks_of_scope: dict[str, int] = defaultdict(int)
        for link in rows:
            clicks_of_scope[link.variant] += link.counters["unique_clicks"]
        links = []
        for link in rows:
            scope = by_variant.get(link.variant, total) if link.variant else total
            delivered = counts_of(scope, provider).delivered
            links.append(
                schemas.LinkFigures(
                    variant=link.variant,
                    link_index=link.link_index,
                    url=link.url,
                    **link.counters,
                    click_rate=ratio(link.counters["unique_clicks"], delivered),
                    click_share=ratio(
                        link.counters["unique_clicks"], clicks_of_scope[link.variant]
                    ),
                )
            )
        return schemas.LinkReport(campaign=campaign_ref(header), links=links)

    async def domains(
        self, ctx: WorkspaceContext, campaign_id: uuid.UUID, limit: int
    ) -> schemas.DomainReport:
        header = await self._campaign(ctx, campaign_id)
        _, _, provider = await self._counters(ctx, campaign_id)
        rows, total = await self.reports.domains(ctx.workspace_id, campaign_id, limit)
        domains = []
        for row in rows:
            c = row.counters
            bounces = c["hard_bounces"] + c["soft_bounces"]
            delivered = c["delivered"] if provider else max(0, c["sent"] - bounces)
            domains.append(
                schemas.DomainFigures(
                    domain=row.domain,
                    **(c | {"delivered": delivered}),
                    bounces=bounces,
                    delivery_rate=ratio(delivered, c["sent"]),
                    bounce_rate=ratio(bounces, c["sent"]),
                    open_rate=ratio(c["unique_opens"], delivered),
                    click_rate=ratio(c["unique_clicks"], delivered),
                    complaint_rate=ratio(c["complaints"], delivered),
                )
            )
        return schemas.DomainReport(
            campaign=campaign_ref(header),
            delivered_source=delivered_source(provider),
            domains=domains,
            total_domains=total,
        )

    async def timeline(
        self, ctx: WorkspaceContext, campaign_id: uuid.UUID, bucket: schemas.TimelineBucket
    ) -> schemas.TimelineReport:
        header = await self._campaign(ctx, campaign_id)
        counters = await self.reports.variant_counters(ctx.workspace_id, campaign_id)
        first, last = counters.first_hour, counters.last_hour
        provider = has_provider_deliveries(counters.by_variant.values())
        unit = timeline_unit(bucket, first, last)
        step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
        if first is not None and last is not None and (last - first) / step >= MAX_TIMELINE_POINTS:
            raise BadRequest(
                f"the campaign's figures span more than {MAX_TIMELINE_POINTS} {unit}s; "
                "ask for bucket=day"
            )
        rows = await self.reports.campaign_buckets(ctx.workspace_id, campaign_id, unit)
        found = {row.start: row.counters for row in rows}
        points = []
        if rows:
            for start in bucket_starts(rows[0].start, rows[-1].start, step):
                counts = counts_of(found.get(start, {}), provider)
                points.append(
                    schemas.TimelinePoint(start=start, counts=counts, rates=rates_of(counts))
                )
        return schemas.TimelineReport(
            campaign=campaign_ref(header),
            bucket="hour" if unit == "hour" else "day",
            delivered_source=delivered_source(provider),
            points=points,
        )

    # -- the workspace -----------------------------------------------------------------

    async def dashboard(
        self,
        ctx: WorkspaceContext,
        from_: date | None,
        to: date | None,
        bucket: schemas.DashboardBucket,
        today: date | None = None,
    ) -> schemas.DashboardReport:
        today = today or datetime.now(UTC).date()
        for name, given in (("from", from_), ("to", to)):
            if given is not None and not EARLIEST_DAY <= given <= LATEST_DAY:
                raise BadRequest(f"{name} must be between {EARLIEST_DAY} and {LATEST_DAY}")
        to = to or today
        from_ = from_ or to - timedelta(days=DEFAULT_DASHBOARD_DAYS - 1)
        if from_ > to:
            raise BadRequest(f"from ({from_}) is after to ({to})")
        days = (to - from_).days + 1
        if days > MAX_DASHBOARD_DAYS:
            raise BadRequest(
                f"the period is {days} days long; at most {MAX_DASHBOARD_DAYS} are allowed"
            )
        previous_from = from_ - timedelta(days=days)
        start, end = midnight(from_), midnight(to + timedelta(days=1))
        rows = await self.reports.dashboard_rows(
            ctx.workspace_id, midnight(previous_from), start, end, bucket.value
        )
        provider = await self.reports.campaigns_with_provider_deliveries(
            ctx.workspace_id, sorted({r.campaign_id for r in rows})
        )
        # Per campaign, delivered is taken from notices or derived, whichever it has.
        per_campaign: dict[tuple[bool, uuid.UUID], CounterRow] = defaultdict(zero)
        per_bucket: dict[datetime, CounterRow] = defaultdict(zero)
        for row in rows:
            add(per_campaign[(row.current, row.campaign_id)], row.counters)
            if row.current:
                bucket_row = dict(row.counters)
                bucket_row["delivered"] = counts_of(
                    row.counters, row.campaign_id in provider
                ).delivered
                add(per_bucket[row.start], bucket_row)
        totals = {True: zero(), False: zero()}
        campaigns = {True: 0, False: 0}
        for (current, campaign_id), counters in per_campaign.items():
            fixed = dict(counters)
            fixed["delivered"] = counts_of(counters, campaign_id in provider).delivered
            add(totals[current], fixed)
            campaigns[current] += 1
        current_counts = counts_of(totals[True], True)
        previous_counts = counts_of(totals[False], True)
        current_rates, previous_rates = rates_of(current_counts), rates_of(previous_counts)
        changes: dict[str, schemas.Change] = {}
        for now_model, then_model in (
            (current_counts, previous_counts),
            (current_rates, previous_rates),
        ):
            now_values: dict[str, Any] = now_model.model_dump()
            then_values: dict[str, Any] = then_model.model_dump()
            for name, value in now_values.items():
                changes[name] = change(value, then_values[name])
        first_bucket = (
            start
            if bucket is schemas.DashboardBucket.day
            else midnight(from_ - timedelta(days=from_.weekday()))
        )
        step = timedelta(days=1 if bucket is schemas.DashboardBucket.day else 7)
        series = []
        for at in bucket_starts(first_bucket, end - timedelta(microseconds=1), step):
            counts = counts_of(per_bucket.get(at, {}), True)
            series.append(schemas.TimelinePoint(start=at, counts=counts, rates=rates_of(counts)))
        return schemas.DashboardReport(
            period=schemas.Period(from_=from_, to=to),
            previous_period=schemas.Period(from_=previous_from, to=from_ - timedelta(days=1)),
            bucket=bucket,
            campaigns=campaigns[True],
            previous_campaigns=campaigns[False],
            derived_delivered_campaigns=len(
                {cid for (current, cid) in per_campaign if current} - provider
            ),
            totals=current_counts,
            rates=current_rates,
            previous_totals=previous_counts,
            previous_rates=previous_rates,
            changes=changes,
            series=series,
        )

    async def activity(
        self,
        ctx: WorkspaceContext,
        contact_id: uuid.UUID,
        limit: int,
        cursor: str | None,
        types: Sequence[str],
    ) -> schemas.ActivityPage:
        before = decode_activity_cursor(cursor) if cursor else None
        if not await self.reports.contact_exists(ctx.workspace_id, contact_id):
            raise NotFound("contact not found")
        rows = await self.reports.activity(ctx.workspace_id, contact_id, limit + 1, before, types)
        page = rows[:limit]
        more = len(rows) > limit and bool(page)
        return schemas.ActivityPage(
            items=[
                schemas.ActivityItem(
                    id=r.id,
                    occurred_at=r.occurred_at,
                    type=r.type,
                    campaign_id=r.campaign_id,
                    campaign_name=r.campaign_name,
                    variant=r.variant,
                    machine=r.machine,
                    link_index=r.link_index,
                    url=r.url,
                    data=r.data,
                )
                for r in page
            ],
            next_cursor=encode_activity_cursor(page[-1].occurred_at, page[-1].id) if more else None,
        )
