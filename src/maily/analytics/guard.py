"""The deliverability guard: a sending campaign whose complaint or hard-bounce rate
reaches its limit pauses itself, and the workspace's owners are told.

Rates come from the campaign's rollups (complaints / sent, hard bounces / sent), once
enough of it has gone out to judge. The pause goes through the campaign state machine
inside the consumer's batch transaction, with an audit entry naming the reason, so the
pause, its record and the counts that caused it commit together; the live message and
the owners' notice follow the commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from maily.analytics.repository import owner_addresses
from maily.analytics.tally import CampaignKey
from maily.audit.service import SYSTEM_ACTOR, record_audit
from maily.campaigns.repository import CampaignRepository
from maily.campaigns.states import CampaignStatus, require
from maily.kit.db import AsyncSession

PAUSED_ACTION = "campaign.auto_paused"


@dataclass(frozen=True, slots=True)
class GuardRules:
    complaint_rate: float = 0.003
    bounce_rate: float = 0.05
    min_sent: int = 500


@dataclass(frozen=True, slots=True)
class Verdict:
    rate: str  # complaint | bounce
    value: float
    limit: float
    sent: int

    @property
    def reason(self) -> str:
        what = "complaint" if self.rate == "complaint" else "hard bounce"
        return (
            f"{what} rate {self.value:.2%} reached the limit of {self.limit:.2%} "
            f"after {self.sent} messages sent"
        )


def judge(totals: Mapping[str, int], rules: GuardRules) -> Verdict | None:
    """Whether a campaign with these counters must stop: a rate at or past its limit."""
    sent = totals.get("sent", 0)
    if sent < rules.min_sent or sent <= 0:
        return None
    complaint_rate = totals.get("complaints", 0) / sent
    if complaint_rate >= rules.complaint_rate:
        return Verdict("complaint", complaint_rate, rules.complaint_rate, sent)
    bounce_rate = totals.get("hard_bounces", 0) / sent
    if bounce_rate >= rules.bounce_rate:
        return Verdict("bounce", bounce_rate, rules.bounce_rate, sent)
    return None


@dataclass(frozen=True, slots=True)
class Paused:
    """A campaign the guard paused, for the messages sent after commit."""

    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    campaign_name: str
    verdict: Verdict
    owners: tuple[str, ...]


async def enforce(
    session: AsyncSession,
    judged: Iterable[CampaignKey],
    totals: Mapping[CampaignKey, Mapping[str, int]],
    rules: GuardRules,
) -> list[Paused]:
    """Pause each judged campaign that is sending and past a limit (in the caller's
    transaction). A campaign paused, resumed and still past the limit pauses again
    at its next bounce or complaint: resuming is the operator's call to make again."""
    paused: list[Paused] = []
    campaigns = CampaignRepository(session)
    for workspace_id, campaign_id in sorted(set(judged)):
        verdict = judge(totals.get((workspace_id, campaign_id), {}), rules)
        if verdict is None:
            continue
        campaign = await campaigns.get(workspace_id, campaign_id, for_update=True)
        if campaign is None or campaign.status != CampaignStatus.sending:
            continue
        require(campaign.status, CampaignStatus.paused)
        campaign.status = CampaignStatus.paused
        await campaigns.save(campaign)
        owners = tuple(await owner_addresses(session, workspace_id))
        await record_audit(
            session,
            workspace_id,
            SYSTEM_ACTOR,
            PAUSED_ACTION,
            "campaign",
            campaign_id,
            {
                "reason": verdict.reason,
                "rate": verdict.rate,
                "value": round(verdict.value, 6),
                "limit": verdict.limit,
                "sent": verdict.sent,
                # The owners get a notice once this commits (by user, never by address).
                "owners_notified": len(owners),
            },
        )
        paused.append(Paused(workspace_id, campaign_id, campaign.name, verdict, owners))
    return paused
