"""Seeding the rollups and events directly, as the analytics service would leave them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import update

from maily.kit.db import AsyncSession
from maily.models import Campaign, CampaignDomainStats, CampaignLinkStats, CampaignStats, Event
from tests.conftest import Account

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)  # a Monday, 09:00 UTC


def base(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}"


async def new_campaign(
    client: httpx.AsyncClient, account: Account, name: str = "Spring sale", ab: bool = False
) -> uuid.UUID:
    body: dict[str, Any] = {"name": name, "subject": "Hello"}
    if ab:
        body["ab_test"] = {"variants": [{"subject": "Subject A"}, {"subject": "Subject B"}]}
    created = await client.post(f"{base(account)}/campaigns", headers=account.headers, json=body)
    assert created.status_code == 201, created.text
    return uuid.UUID(created.json()["id"])


async def new_contact(client: httpx.AsyncClient, account: Account) -> uuid.UUID:
    created = await client.post(
        f"{base(account)}/contacts",
        headers=account.headers,
        json={"email": f"c-{uuid.uuid4().hex[:8]}@example.com"},
    )
    assert created.status_code == 201, created.text
    return uuid.UUID(created.json()["id"])


async def set_winner(session: AsyncSession, campaign_id: uuid.UUID, winner: str) -> None:
    await session.execute(
        update(Campaign).where(Campaign.id == campaign_id).values(ab_winner=winner)
    )
    await session.flush()


async def stats(
    session: AsyncSession,
    account: Account,
    campaign_id: uuid.UUID,
    hour: datetime,
    variant: str = "",
    **counters: int,
) -> None:
    session.add(
        CampaignStats(
            workspace_id=account.workspace_id,
            campaign_id=campaign_id,
            hour=hour,
            variant=variant,
            **counters,
        )
    )
    await session.flush()


async def link(
    session: AsyncSession,
    account: Account,
    campaign_id: uuid.UUID,
    link_index: int,
    url: str,
    variant: str = "",
    **counters: int,
) -> None:
    session.add(
        CampaignLinkStats(
            workspace_id=account.workspace_id,
            campaign_id=campaign_id,
            variant=variant,
            link_index=link_index,
            url=url,
            **counters,
        )
    )
    await session.flush()


async def domain(
    session: AsyncSession, account: Account, campaign_id: uuid.UUID, name: str, **counters: int
) -> None:
    session.add(
        CampaignDomainStats(
            workspace_id=account.workspace_id, campaign_id=campaign_id, domain=name, **counters
        )
    )
    await session.flush()


async def event(
    session: AsyncSession,
    account: Account,
    contact_id: uuid.UUID,
    type_: str,
    at: datetime,
    campaign_id: uuid.UUID | None = None,
    **fields: Any,
) -> uuid.UUID:
    row = Event(
        workspace_id=account.workspace_id,
        contact_id=contact_id,
        campaign_id=campaign_id,
        type=type_,
        occurred_at=at,
        **fields,
    )
    session.add(row)
    await session.flush()
    return row.id
