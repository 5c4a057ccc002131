"""The performance analyst's campaign results, read from the analytics rollups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from sqlalchemy import update

from maily.ai.mesh import RollupCampaignResults
from maily.kit.db import AsyncSession
from maily.models import Campaign
from tests.conftest import Account, sign_up
from tests.reports.support import T0, new_campaign, stats


def sessions_of(session: AsyncSession) -> RollupCampaignResults:
    @asynccontextmanager
    async def opened() -> AsyncIterator[AsyncSession]:
        yield session

    return RollupCampaignResults(opened)


async def start(session: AsyncSession, campaign_id: object, at: object) -> None:
    await session.execute(
        update(Campaign).where(Campaign.id == campaign_id).values(started_at=at, subject="Hi")
    )
    await session.flush()


async def test_recent_campaigns_with_human_figures_newest_first(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    older = await new_campaign(client, account, name="Summer teas")
    newer = await new_campaign(client, account, name="Autumn teas")
    await new_campaign(client, account, name="Never sent")  # a draft: not a result
    await start(session, older, T0)
    await start(session, newer, T0 + timedelta(days=30))
    await stats(
        session, account, older, T0,
        sent=1000, hard_bounces=8, soft_bounces=2, unique_opens=600, unique_human_opens=400,
        unique_clicks=90, unique_human_clicks=70, unsubscribes=3, complaints=1,
    )  # fmt: skip
    await stats(
        session, account, older, T0 + timedelta(hours=1),
        sent=0, unique_opens=50, unique_human_opens=20, unique_human_clicks=5,
    )  # fmt: skip
    await stats(
        session, account, newer, T0 + timedelta(days=30),
        sent=500, delivered=490, hard_bounces=10, unique_human_opens=250,
    )  # fmt: skip

    results = await sessions_of(session).recent(account.workspace_id)

    assert [r.name for r in results] == ["Autumn teas", "Summer teas"]
    autumn, summer = results
    assert summer.campaign_id == older
    assert summer.subject == "Hi"
    assert summer.sent_at == T0.isoformat()
    assert summer.delivered == 990  # no provider notices: sent minus bounces
    assert summer.unique_opens == 420  # human opens only, summed over the hours
    assert summer.unique_clicks == 75
    assert (summer.unsubscribes, summer.complaints, summer.bounces) == (3, 1, 10)
    assert autumn.delivered == 490  # the provider said so
    assert len(await sessions_of(session).recent(account.workspace_id, limit=1)) == 1


async def test_another_workspace_sees_none_of_them(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    campaign = await new_campaign(client, account)
    await start(session, campaign, T0)
    await stats(session, account, campaign, T0, sent=10, unique_human_opens=5)
    other = await sign_up(client)
    assert await sessions_of(session).recent(other.workspace_id) == []
    assert len(await sessions_of(session).recent(account.workspace_id)) == 1
