"""Rules of the insights: planning send times for a campaign's audience, a contact's
best hours, score and churn risk, A/B significance, and the content check. No SQL
here (repository.py) and no commits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement

from maily.ai.checks.compliance import check_content
from maily.ai.checks.spam import message_to_check
from maily.ai.contracts import (
    Brand,
    CheckFinding,
    CheckReport,
    SpamChecker,
    SpamCheckUnavailable,
    SpamReport,
)
from maily.ai.insights import ab, schemas, scores
from maily.ai.insights.repository import InsightsRepository
from maily.ai.insights.send_time import (
    DEFAULT_PARAMETERS,
    HOURS_PER_DAY,
    HOURS_PER_WEEK,
    WEEKDAYS,
    SendTimeParameters,
    Slot,
    best_hours,
    describe_hour,
    hour_of_week,
    pattern_from_totals,
    plan_time,
    posterior,
    uniforms,
    window_slots,
)
from maily.auth.service import WorkspaceContext
from maily.campaigns.ab import variant_names
from maily.config import Settings
from maily.kit.db import AsyncSession
from maily.kit.errors import NotFound, Unprocessable
from maily.models import Campaign, Workspace
from maily.reports.repository import ReportRepository
from maily.templates.compiler import TemplateKind
from maily.templates.schemas import TemplateRole
from maily.templates.service import Content, TemplateService, preview_urls

# Engagement older than this says little about when someone reads mail today.
LOOKBACK = timedelta(days=180)
# Below this many human opens and clicks, a contact's own hours are not trusted alone.
MIN_OPENS_AND_CLICKS = 5
# A placeholder sender for the spam check: sender-based rules (SPF, DKIM) are the
# sending domain's business, not the content's.
CHECK_FROM = "news@example.com"


def _slots(start: datetime, zone: str, fallback: str) -> list[Slot]:
    try:
        return window_slots(start, zone)
    except (ZoneInfoNotFoundError, ValueError):
        # A name PostgreSQL knows and Python does not (rare): the campaign's zone.
        return window_slots(start, fallback)


class SendTimePlanner:
    """Plans each recipient's send time within the 24 hours after a campaign's start."""

    def __init__(
        self, session: AsyncSession, parameters: SendTimeParameters = DEFAULT_PARAMETERS
    ) -> None:
        self.insights = InsightsRepository(session)
        self.parameters = parameters

    async def plan(
        self, campaign: Campaign, audience: ColumnElement[bool], start: datetime
    ) -> dict[uuid.UUID, datetime]:
        """A send time for every contact of `audience`. Draws are seeded by the
        campaign, so planning the same campaign again plans the same hours."""
        since = start - LOOKBACK
        totals = await self.insights.workspace_totals(
            campaign.workspace_id, since, campaign.timezone
        )
        pattern = pattern_from_totals(totals, self.parameters)
        engagement = await self.insights.audience_engagement(
            campaign.workspace_id, audience, since, campaign.timezone
        )
        seed = f"send-time:{campaign.id}"
        planned = {}
        for contact_id, zone in engagement.zones.items():
            slot = plan_time(
                engagement.counts.get(contact_id, {}),
                pattern,
                _slots(start, zone, campaign.timezone),
                uniforms(seed, contact_id),
                self.parameters,
            )
            planned[contact_id] = slot.at
        return planned


def _next_at(how: int, now: datetime, zone: ZoneInfo) -> datetime:
    """The next start of local hour-of-week `how` from `now`, in `zone`."""
    local = now.astimezone(zone)
    ahead = (how - hour_of_week(local)) % HOURS_PER_WEEK or HOURS_PER_WEEK
    wall = local.replace(tzinfo=None, minute=0, second=0, microsecond=0) + timedelta(hours=ahead)
    return wall.replace(tzinfo=zone)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class InsightsService:
    def __init__(self, session: AsyncSession) -> None:
        self.insights = InsightsRepository(session)
        self.reports = ReportRepository(session)

    async def contact(
        self, ctx: WorkspaceContext, contact_id: uuid.UUID, now: datetime | None = None
    ) -> schemas.ContactInsights:
        now = now or datetime.now(UTC)
        since = now - LOOKBACK
        history = await self.insights.contact_history(ctx.workspace_id, contact_id, since, "UTC")
        if history is None:
            raise NotFound("contact not found")
        totals = await self.insights.workspace_totals(ctx.workspace_id, since)
        pattern = pattern_from_totals(totals)
        n = round(sum(history.counts.values()))
        own = n >= MIN_OPENS_AND_CLICKS
        weights = posterior(history.counts, pattern) if own else list(pattern)
        zone = _zone(history.timezone)
        hours = [
            schemas.BestHour(
                hour_of_week=how,
                weekday=WEEKDAYS[how // HOURS_PER_DAY],
                hour=how % HOURS_PER_DAY,
                label=describe_hour(how),
                share=round(share, 4),
                next_at=_next_at(how, now, zone),
            )
            for how, share in best_hours(weights, 3)
        ]
        send_time = schemas.SendTimeInsight(
            status="ok" if own else "insufficient_data",
            source="contact" if own else "workspace",
            opens_and_clicks=n,
            min_opens_and_clicks=MIN_OPENS_AND_CLICKS,
            lookback_days=LOOKBACK.days,
            best_hours=hours,
            reason=""
            if own
            else (
                f"{n} human open(s) and click(s) in {LOOKBACK.days} days; the contact's own "
                f"hours need at least {MIN_OPENS_AND_CLICKS}, so these are the workspace's"
            ),
        )
        found = scores.engagement(
            [scores.Message(m.sent_at, m.opened, m.clicked) for m in history.messages],
            now,
            history.status,
        )
        return schemas.ContactInsights(
            contact_id=contact_id,
            timezone=history.timezone,
            send_time=send_time,
            engagement=schemas.EngagementInsight(
                status=found.status,
                messages=found.messages,
                min_messages=found.min_messages,
                score=found.score,
                open_rate=found.open_rate,
                click_rate=found.click_rate,
                churn_risk=found.churn_risk,
                risk_level=found.risk_level,
                unanswered_in_a_row=found.unanswered_in_a_row,
                last_engaged_message_sent_at=found.last_engaged_message_sent_at,
                reason=found.reason,
            ),
        )

    async def ab(self, ctx: WorkspaceContext, campaign_id: uuid.UUID) -> schemas.ABSignificance:
        campaign = await self.insights.campaign(ctx.workspace_id, campaign_id)
        if campaign is None:
            raise NotFound("campaign not found")
        test = campaign.ab_test
        if not test:
            return schemas.ABSignificance(
                campaign_id=campaign_id,
                has_ab_test=False,
                variants=[],
                opens=[],
                clicks=[],
                verdict="the campaign has no A/B test",
            )
        # The report's own per-variant sums of the rollups.
        totals = (await self.reports.variant_counters(ctx.workspace_id, campaign_id)).by_variant
        figures = []
        opens: dict[str, ab.Arm] = {}
        clicks: dict[str, ab.Arm] = {}
        for name in variant_names(test):
            found = totals.get(name, {})
            sent = found.get("sent", 0)
            o = found.get("unique_human_opens", 0)
            c = found.get("unique_human_clicks", 0)
            opens[name], clicks[name] = ab.Arm(name, sent, o), ab.Arm(name, sent, c)
            figures.append(
                schemas.VariantFigures(
                    name=name,
                    sent=sent,
                    unique_human_opens=o,
                    unique_human_clicks=c,
                    open_rate=round(o / sent, 4) if sent else 0.0,
                    click_rate=round(c / sent, 4) if sent else 0.0,
                )
            )
        by_opens = [_comparison(c) for c in ab.compare_all(opens, "opens")]
        by_clicks = [_comparison(c) for c in ab.compare_all(clicks, "clicks")]
        metric = test.get("metric", "opens")
        own = by_opens if metric == "opens" else by_clicks
        return schemas.ABSignificance(
            campaign_id=campaign_id,
            has_ab_test=True,
            metric=metric,
            variants=figures,
            opens=by_opens,
            clicks=by_clicks,
            verdict=_headline(own),
        )


def _comparison(c: ab.Comparison) -> schemas.Comparison:
    return schemas.Comparison(
        leader=c.leader,
        other=c.other,
        metric=c.metric,
        leader_rate=c.leader_rate,
        other_rate=c.other_rate,
        p_value=c.p_value,
        confidence=c.confidence,
        probability_to_beat=c.probability_to_beat,
        significant=c.significant,
        more_recipients_per_variant=c.more_recipients_per_variant,
        verdict=c.verdict,
    )


def _headline(comparisons: list[schemas.Comparison]) -> str:
    """The closest race decides: a leader is only the winner once it beats everyone."""
    if not comparisons:
        return "no variants to compare"
    if all(c.significant for c in comparisons):
        weakest = min(comparisons, key=lambda c: c.confidence or 0)
        return (
            weakest.verdict
            if len(comparisons) == 1
            else (
                f"{weakest.leader} beats every other variant on {weakest.metric} "
                f"(at least {weakest.confidence or 0:.0%} confidence)"
            )
        )
    closest = max(
        (c for c in comparisons if not c.significant),
        key=lambda c: c.more_recipients_per_variant or 0,
    )
    return closest.verdict


class ContentCheck:
    """Compliance rules and SpamAssassin over one rendered message."""

    def __init__(self, session: AsyncSession, settings: Settings, spam: SpamChecker) -> None:
        self.session = session
        self.settings = settings
        self.spam = spam

    async def check(self, ctx: WorkspaceContext, body: schemas.ContentCheckRequest) -> CheckReport:
        templates = TemplateService(self.session, self.settings)
        if body.template_id is not None:
            template = await templates.get(ctx, body.template_id)
            if template.role != TemplateRole.template:
                raise Unprocessable(
                    f"a {template.role} cannot be checked on its own; give a template"
                )
            version = await templates.current(ctx, template)
            content = Content(
                kind=TemplateKind(template.kind),
                role=TemplateRole.template,
                source=version.source,
                subject=body.subject,
                preheader=body.preheader if body.preheader is not None else version.preheader,
                layout_id=version.layout_id,
            )
        else:
            assert body.mjml is not None
            content = Content(
                kind=TemplateKind.mjml,
                role=TemplateRole.template,
                source=body.mjml,
                subject=body.subject,
                preheader=body.preheader or "",
                layout_id=None,
            )
        _, rendered = await templates.check(ctx, content)
        # Loaded when the template was checked: the session answers without a query.
        workspace = await self.session.get(Workspace, ctx.workspace_id)
        if workspace is None:
            raise NotFound("workspace not found")
        urls = preview_urls(self.settings.api.external_url)
        report = check_content(
            subject=rendered.subject,
            preheader=content.preheader,
            html=rendered.html,
            text=rendered.text,
            brand=Brand(name=workspace.name, postal_address=workspace.postal_address),
            unsubscribe_urls=[urls["unsubscribe_url"], urls["preferences_url"]],
        )
        findings = _own_links_apart(list(report.findings), self.settings.api.external_url)
        spam: SpamReport | None = None
        try:
            spam = await self.spam.check(
                message_to_check(
                    subject=rendered.subject,
                    html=rendered.html,
                    text=rendered.text,
                    from_email=CHECK_FROM,
                    workspace_id=ctx.workspace_id,
                    public_url=self.settings.api.external_url,
                )
            )
        except SpamCheckUnavailable as exc:
            findings.append(
                CheckFinding(
                    check="spamassassin",
                    severity="warning",
                    message=f"SpamAssassin was not consulted: {exc}",
                )
            )
        if spam is not None:
            findings.extend(_spam_findings(spam))
        return CheckReport(
            passed=not any(f.severity == "error" for f in findings), findings=findings, spam=spam
        )


def _own_links_apart(findings: list[CheckFinding], public_url: str) -> list[CheckFinding]:
    """Findings about Maily's own links (unsubscribe, preferences, view online) are not
    the content's: they name the deployment's public URL. They become one warning."""
    own = [f for f in findings if f.check.startswith("link") and f.where.startswith(public_url)]
    if not own:
        return findings
    kept = [f for f in findings if f not in own]
    kept.append(
        CheckFinding(
            check="public_url",
            severity="warning",
            message=f"Maily's own links (unsubscribe, preferences) will point to {public_url}, "
            "which receivers distrust (" + "; ".join(sorted({f.check for f in own})) + "): "
            "set MAILY_API__PUBLIC_URL to the public https:// address",
            where=public_url,
        )
    )
    return kept


def _spam_findings(spam: SpamReport) -> list[CheckFinding]:
    top = ", ".join(f"{r.name} ({r.score:g})" for r in spam.rules if r.score > 0)
    if spam.is_spam:
        return [
            CheckFinding(
                check="spamassassin",
                severity="error",
                message=f"SpamAssassin scores it {spam.score:g}, over its spam threshold of "
                f"{spam.threshold:g}: {top}",
            )
        ]
    if spam.score >= spam.threshold / 2:
        return [
            CheckFinding(
                check="spamassassin",
                severity="warning",
                message=f"SpamAssassin scores it {spam.score:g} (spam from {spam.threshold:g}): "
                f"{top}",
            )
        ]
    return []
