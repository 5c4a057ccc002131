"""A contact's activity: its events newest first with campaign names, page by page."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from maily.kit.db import AsyncSession
from tests.conftest import Account
from tests.reports.support import T0, base, event, link, new_campaign, new_contact


def activity_url(account: Account, contact_id: uuid.UUID) -> str:
    return f"{base(account)}/reports/contacts/{contact_id}/activity"


async def test_events_with_campaign_names_and_link_urls(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    contact = await new_contact(client, account)
    someone_else = await new_contact(client, account)
    campaign = await new_campaign(client, account, "Winter news")
    await link(session, account, campaign, 2, "https://shop.example/boots")
    await event(session, account, contact, "sent", T0, campaign, delivery_id=uuid.uuid4())
    await event(session, account, contact, "open", T0 + timedelta(minutes=5), campaign,
                machine="proxy")  # fmt: skip
    await event(session, account, contact, "click", T0 + timedelta(minutes=9), campaign,
                link_index=2, variant=None)  # fmt: skip
    await event(session, account, someone_else, "open", T0, campaign)

    body = (await client.get(activity_url(account, contact), headers=account.headers)).json()

    items = body["items"]
    assert [i["type"] for i in items] == ["click", "open", "sent"]
    assert {i["campaign_name"] for i in items} == {"Winter news"}
    assert items[0]["url"] == "https://shop.example/boots"
    assert items[0]["link_index"] == 2
    assert items[1]["machine"] == "proxy"
    assert items[2]["machine"] is None
    assert body["next_cursor"] is None


async def test_pages_follow_each_other_without_gaps_or_repeats(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    contact = await new_contact(client, account)
    campaign = await new_campaign(client, account)
    made = []
    for n in range(7):
        made.append(
            await event(session, account, contact, "open", T0 + timedelta(hours=n), campaign)
        )
    # Two events at the very same moment: the id breaks the tie.
    made.append(await event(session, account, contact, "click", T0 + timedelta(hours=6), campaign))
    made.append(await event(session, account, contact, "click", T0 + timedelta(hours=6), campaign))

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = (
            await client.get(activity_url(account, contact), headers=account.headers, params=params)
        ).json()
        seen += [i["id"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 9
    assert set(seen) == {str(i) for i in made}


async def test_filtered_by_type(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    contact = await new_contact(client, account)
    await event(session, account, contact, "open", T0)
    await event(session, account, contact, "click", T0)
    await event(session, account, contact, "unsubscribe", T0, data={"channel": "one_click"})

    body = (
        await client.get(
            activity_url(account, contact),
            headers=account.headers,
            params=[("type", "click"), ("type", "unsubscribe")],
        )
    ).json()

    assert sorted(i["type"] for i in body["items"]) == ["click", "unsubscribe"]
    unsubscribe = next(i for i in body["items"] if i["type"] == "unsubscribe")
    assert unsubscribe["data"] == {"channel": "one_click"}
    assert unsubscribe["campaign_id"] is None


async def test_bad_cursor_and_unknown_contact(client: httpx.AsyncClient, account: Account) -> None:
    contact = await new_contact(client, account)

    bad = await client.get(
        activity_url(account, contact), headers=account.headers, params={"cursor": "not-a-cursor"}
    )
    unknown = await client.get(activity_url(account, uuid.uuid4()), headers=account.headers)
    bad_type = await client.get(
        activity_url(account, contact), headers=account.headers, params={"type": "visit"}
    )

    assert bad.status_code == 400
    assert "cursor is not valid" in bad.json()["error"]["message"]
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "contact not found"
    assert bad_type.status_code == 422
