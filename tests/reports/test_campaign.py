"""A campaign's report from seeded rollups: figures, rates, variants, links, domains, timeline."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from maily.kit.db import AsyncSession
from tests.conftest import Account
from tests.reports.support import (
    T0,
    base,
    domain,
    event,
    link,
    new_campaign,
    new_contact,
    set_winner,
    stats,
)


def report_url(account: Account, campaign_id: object, suffix: str = "") -> str:
    return f"{base(account)}/reports/campaigns/{campaign_id}{suffix}"


async def test_figures_and_rates_from_the_hours_of_a_campaign(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    campaign_id = await new_campaign(client, account)
    await stats(
        session, account, campaign_id, T0,
        sent=800, hard_bounces=10, soft_bounces=5, opens=500, human_opens=300,
        unique_opens=350, unique_human_opens=200, clicks=90, human_clicks=60,
        unique_clicks=70, unique_human_clicks=50, unsubscribes=4, complaints=1,
    )  # fmt: skip
    await stats(
        session, account, campaign_id, T0 + timedelta(hours=1),
        sent=200, hard_bounces=5, opens=100, human_opens=80, unique_opens=50,
        unique_human_opens=40, clicks=10, human_clicks=10, unique_clicks=10,
        unique_human_clicks=10, unsubscribes=1,
    )  # fmt: skip

    response = await client.get(report_url(account, campaign_id), headers=account.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["campaign"]["name"] == "Spring sale"
    assert body["variants"] == []
    figures = body["figures"]
    # No provider delivery notices: delivered is sent minus bounces, and says so.
    assert figures["delivered_source"] == "sent_minus_bounces"
    counts = figures["counts"]
    assert counts == {
        "sent": 1000, "delivered": 980, "bounces": 20, "hard_bounces": 15, "soft_bounces": 5,
        "complaints": 1, "unsubscribes": 5, "opens": 600, "human_opens": 380,
        "unique_opens": 400, "unique_human_opens": 240, "clicks": 100, "human_clicks": 70,
        "unique_clicks": 80, "unique_human_clicks": 60,
    }  # fmt: skip
    rates = figures["rates"]
    assert rates["delivery_rate"] == 0.98
    assert rates["bounce_rate"] == 0.02
    assert rates["hard_bounce_rate"] == 0.015
    assert rates["open_rate"] == round(400 / 980, 6)
    assert rates["human_open_rate"] == round(240 / 980, 6)
    assert rates["click_rate"] == round(80 / 980, 6)  # CTR: unique clicks / delivered
    assert rates["human_click_rate"] == round(60 / 980, 6)
    assert rates["click_to_open_rate"] == 0.2  # unique clicks / unique opens
    assert rates["human_click_to_open_rate"] == 0.25
    assert rates["unsubscribe_rate"] == round(5 / 980, 6)
    assert rates["complaint_rate"] == round(1 / 980, 6)


async def test_provider_delivery_notices_are_taken_as_they_are(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    campaign_id = await new_campaign(client, account)
    await stats(session, account, campaign_id, T0, sent=100, delivered=90, hard_bounces=2)

    figures = (await client.get(report_url(account, campaign_id), headers=account.headers)).json()[
        "figures"
    ]

    assert figures["delivered_source"] == "provider"
    assert figures["counts"]["delivered"] == 90
    assert figures["rates"]["delivery_rate"] == 0.9


async def test_a_campaign_without_figures_has_zeros_and_no_rates(
    client: httpx.AsyncClient, account: Account
) -> None:
    campaign_id = await new_campaign(client, account)

    response = await client.get(report_url(account, campaign_id), headers=account.headers)

    assert response.status_code == 200
    figures = response.json()["figures"]
    assert set(figures["counts"].values()) == {0}
    # Every rate divides by zero here: none is made up.
    assert set(figures["rates"].values()) == {None}


async def test_divide_by_zero_leaves_only_that_rate_empty(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    campaign_id = await new_campaign(client, account)
    # All bounced: nothing delivered, so the per-delivered rates have no denominator.
    await stats(session, account, campaign_id, T0, sent=10, hard_bounces=10)

    rates = (await client.get(report_url(account, campaign_id), headers=account.headers)).json()[
        "figures"
    ]["rates"]

    assert rates["bounce_rate"] == 1.0
    assert rates["delivery_rate"] == 0.0
    assert rates["open_rate"] is None
    assert rates["click_rate"] is None
    assert rates["click_to_open_rate"] is None
    assert rates["complaint_rate"] is None


async def test_variants_side_by_side_with_subject_and_winner(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    campaign_id = await new_campaign(client, account, ab=True)
    await stats(session, account, campaign_id, T0, "A", sent=100, unique_opens=30, unique_clicks=3)
    await stats(session, account, campaign_id, T0, "B", sent=100, unique_opens=50, unique_clicks=10)
    await stats(
        session, account, campaign_id, T0 + timedelta(hours=5), "B", sent=800, unique_opens=300
    )
    await set_winner(session, campaign_id, "B")

    body = (await client.get(report_url(account, campaign_id), headers=account.headers)).json()

    assert body["figures"]["counts"]["sent"] == 1000
    variants = {v["variant"]: v for v in body["variants"]}
    assert set(variants) == {"A", "B"}
    assert variants["A"]["subject"] == "Subject A"
    assert variants["A"]["winner"] is False
    assert variants["B"]["winner"] is True
    assert variants["A"]["figures"]["rates"]["open_rate"] == 0.3
    assert variants["B"]["figures"]["counts"]["sent"] == 900
    assert variants["B"]["figures"]["rates"]["click_to_open_rate"] == round(10 / 350, 6)


async def test_links_of_each_variant_against_its_own_audience(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    campaign_id = await new_campaign(client, account, ab=True)
    await stats(session, account, campaign_id, T0, "A", sent=100)
    await stats(session, account, campaign_id, T0, "B", sent=300)
    await link(session, account, campaign_id, 0, "https://shop.example/a", "A",
               clicks=12, human_clicks=9, unique_clicks=10, unique_human_clicks=8)  # fmt: skip
    await link(session, account, campaign_id, 1, "https://shop.example/b", "A",
               clicks=40, human_clicks=20, unique_clicks=30, unique_human_clicks=15)  # fmt: skip
    await link(session, account, campaign_id, 0, "https://shop.example/a", "B",
               clicks=7, unique_clicks=6)  # fmt: skip

    body = (
        await client.get(report_url(account, campaign_id, "/links"), headers=account.headers)
    ).json()

    rows = {(r["variant"], r["link_index"]): r for r in body["links"]}
    assert list(rows) == [("A", 0), ("A", 1), ("B", 0)]
    first = rows[("A", 0)]
    assert (first["clicks"], first["human_clicks"], first["unique_clicks"]) == (12, 9, 10)
    assert first["url"] == "https://shop.example/a"
    assert first["click_rate"] == 0.1  # 10 unique clicks / 100 delivered to A
    assert first["click_share"] == 0.25  # 10 of A's 40 unique clicks
    assert rows[("B", 0)]["click_rate"] == 0.02
    assert rows[("B", 0)]["click_share"] == 1.0


async def test_domains_most_sent_first_with_their_rates(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    campaign_id = await new_campaign(client, account)
    await stats(session, account, campaign_id, T0, sent=1000)
    await domain(session, account, campaign_id, "yahoo.com", sent=300, hard_bounces=30,
                 unique_opens=27, complaints=3)  # fmt: skip
    await domain(session, account, campaign_id, "gmail.com", sent=600, soft_bounces=0,
                 opens=300, unique_opens=200, clicks=50, unique_clicks=40)  # fmt: skip
    await domain(session, account, campaign_id, "tiny.example", sent=0)

    response = await client.get(
        report_url(account, campaign_id, "/domains"), headers=account.headers, params={"limit": 2}
    )

    body = response.json()
    assert body["total_domains"] == 3
    assert body["delivered_source"] == "sent_minus_bounces"
    assert [d["domain"] for d in body["domains"]] == ["gmail.com", "yahoo.com"]
    gmail, yahoo = body["domains"]
    assert gmail["delivered"] == 600
    assert gmail["open_rate"] == round(200 / 600, 6)
    assert gmail["click_rate"] == round(40 / 600, 6)
    assert yahoo["delivered"] == 270
    assert yahoo["bounce_rate"] == 0.1
    assert yahoo["open_rate"] == 0.1
    assert yahoo["complaint_rate"] == round(3 / 270, 6)


async def test_timeline_is_hourly_for_a_short_campaign_with_gaps_filled(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    campaign_id = await new_campaign(client, account, ab=True)
    await stats(session, account, campaign_id, T0, "A", sent=10, unique_opens=2)
    await stats(session, account, campaign_id, T0, "B", sent=10, unique_opens=4)
    await stats(session, account, campaign_id, T0 + timedelta(hours=3), "A", unique_opens=1)

    body = (
        await client.get(report_url(account, campaign_id, "/timeline"), headers=account.headers)
    ).json()

    assert body["bucket"] == "hour"
    points = body["points"]
    starts = [datetime.fromisoformat(p["start"]) for p in points]
    assert starts == [T0 + timedelta(hours=h) for h in range(4)]
    assert [p["counts"]["sent"] for p in points] == [20, 0, 0, 0]
    assert [p["counts"]["unique_opens"] for p in points] == [6, 0, 0, 1]
    assert points[0]["rates"]["open_rate"] == 0.3
    assert points[1]["rates"]["open_rate"] is None


async def test_timeline_is_daily_for_a_long_campaign_and_on_request(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    campaign_id = await new_campaign(client, account)
    await stats(session, account, campaign_id, T0, sent=100)
    await stats(session, account, campaign_id, T0 + timedelta(hours=16), sent=50)
    await stats(session, account, campaign_id, T0 + timedelta(days=6), unique_opens=5)
    url = report_url(account, campaign_id, "/timeline")

    auto = (await client.get(url, headers=account.headers)).json()
    hourly = (await client.get(url, headers=account.headers, params={"bucket": "hour"})).json()

    assert auto["bucket"] == "day"
    assert [p["counts"]["sent"] for p in auto["points"]] == [100, 50, 0, 0, 0, 0, 0]
    assert auto["points"][0]["start"].startswith("2026-11-02T00:00:00")
    assert [p["counts"]["unique_opens"] for p in auto["points"]][-1] == 5
    assert hourly["bucket"] == "hour"
    assert len(hourly["points"]) == 6 * 24 + 1


@pytest.mark.parametrize("bucket", ["minute", "", "HOUR"])
async def test_an_unknown_timeline_bucket_is_refused_with_a_message(
    client: httpx.AsyncClient, account: Account, bucket: str
) -> None:
    campaign_id = await new_campaign(client, account)
    response = await client.get(
        report_url(account, campaign_id, "/timeline"),
        headers=account.headers,
        params={"bucket": bucket},
    )
    assert response.status_code == 422
    detail = response.json()["error"]["details"][0]
    assert detail["loc"] == ["query", "bucket"]
    assert "auto" in detail["message"]
    assert "hour" in detail["message"]


async def test_an_unknown_campaign_is_not_found(
    client: httpx.AsyncClient, account: Account
) -> None:
    for suffix in ("", "/links", "/domains", "/timeline"):
        response = await client.get(
            report_url(account, "0190a000-0000-7000-8000-000000000000", suffix),
            headers=account.headers,
        )
        assert response.status_code == 404, suffix
        assert response.json()["error"]["message"] == "campaign not found"


async def test_hourly_timeline_of_a_long_campaign_is_refused_with_a_message(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    campaign_id = await new_campaign(client, account)
    await stats(session, account, campaign_id, T0, sent=1)
    await stats(session, account, campaign_id, T0 + timedelta(days=100), unique_opens=1)

    response = await client.get(
        report_url(account, campaign_id, "/timeline"),
        headers=account.headers,
        params={"bucket": "hour"},
    )
    daily = await client.get(report_url(account, campaign_id, "/timeline"), headers=account.headers)

    assert response.status_code == 400
    assert "ask for bucket=day" in response.json()["error"]["message"]
    assert daily.status_code == 200
    assert len(daily.json()["points"]) == 101


async def test_figures_come_from_the_rollups_not_from_raw_events(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    campaign_id = await new_campaign(client, account)
    contact = await new_contact(client, account)
    # Events the analytics service has not rolled up yet are not counted.
    await event(session, account, contact, "sent", T0, campaign_id)
    await event(session, account, contact, "open", T0, campaign_id)
    await stats(session, account, campaign_id, T0, sent=5, unique_opens=2)

    counts = (await client.get(report_url(account, campaign_id), headers=account.headers)).json()[
        "figures"
    ]["counts"]

    assert (counts["sent"], counts["unique_opens"]) == (5, 2)
