"""Every report as CSV: headers, the same figures as JSON, formula-like cells escaped."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
import pytest

from maily.kit.db import AsyncSession
from tests.conftest import Account
from tests.reports.support import T0, base, domain, event, link, new_campaign, new_contact, stats

EVIL = '=HYPERLINK("https://evil.example","click")'


def rows_of(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert response.text.endswith("\r\n")
    # Every cell is quoted, so separators inside a value never shift columns.
    assert all(line.startswith('"') for line in response.text.splitlines())
    return list(csv.reader(io.StringIO(response.text)))


@pytest.fixture
async def campaign(client: httpx.AsyncClient, account: Account, session: AsyncSession) -> str:
    campaign_id = await new_campaign(client, account, EVIL, ab=True)
    await stats(session, account, campaign_id, T0, "A", sent=100, unique_opens=20, unique_clicks=5)
    await stats(
        session, account, campaign_id, T0 + timedelta(hours=2), "B", sent=50, hard_bounces=5
    )
    await link(session, account, campaign_id, 0, "+cmd|' /C calc'!A0", "A", unique_clicks=5)
    await domain(session, account, campaign_id, "@evil.example", sent=150)
    return str(campaign_id)


async def test_campaign_csv_has_a_row_for_all_and_each_variant(
    client: httpx.AsyncClient, account: Account, campaign: str
) -> None:
    url = f"{base(account)}/reports/campaigns/{campaign}"
    rows = rows_of(await client.get(url, headers=account.headers, params={"format": "csv"}))
    as_json = (await client.get(url, headers=account.headers)).json()

    header, *body = rows
    assert header[:5] == ["campaign", "variant", "subject", "winner", "sent"]
    assert "delivered_source" in header
    assert "click_to_open_rate" in header
    assert [r[1] for r in body] == ["all", "A", "B"]
    record = dict(zip(header, body[0], strict=True))
    # The campaign's name would be a formula in a spreadsheet: it is prefixed with a quote.
    assert record["campaign"] == "'" + EVIL
    assert record["sent"] == "150"
    assert record["delivered"] == str(as_json["figures"]["counts"]["delivered"])
    assert record["open_rate"] == str(as_json["figures"]["rates"]["open_rate"])
    assert record["delivered_source"] == "sent_minus_bounces"
    variant_b = dict(zip(header, body[2], strict=True))
    assert variant_b["subject"] == "Subject B"
    assert variant_b["unique_opens"] == "0"
    assert variant_b["click_to_open_rate"] == ""  # null: no opens to divide by


async def test_links_domains_and_timeline_csv(
    client: httpx.AsyncClient, account: Account, campaign: str
) -> None:
    url = f"{base(account)}/reports/campaigns/{campaign}"
    csv_ = {"format": "csv"}

    links = rows_of(await client.get(f"{url}/links", headers=account.headers, params=csv_))
    domains = rows_of(await client.get(f"{url}/domains", headers=account.headers, params=csv_))
    timeline = rows_of(await client.get(f"{url}/timeline", headers=account.headers, params=csv_))

    assert links[0][:3] == ["variant", "link_index", "url"]
    assert links[1][2] == "'+cmd|' /C calc'!A0"
    assert domains[0][0] == "domain"
    assert domains[1][0] == "'@evil.example"
    assert timeline[0][:2] == ["start", "sent"]
    assert [r[1] for r in timeline[1:]] == ["100", "0", "50"]
    assert timeline[1][0].startswith("2026-11-02T09:00:00")


async def test_dashboard_csv_has_the_series_then_both_totals(
    client: httpx.AsyncClient, account: Account, campaign: str
) -> None:
    response = await client.get(
        f"{base(account)}/reports/dashboard",
        headers=account.headers,
        params={"from": "2026-11-02", "to": "2026-11-04", "format": "csv"},
    )
    header, *body = rows_of(response)

    assert header[0] == "start"
    assert [r[0][:10] for r in body[:3]] == ["2026-11-02", "2026-11-03", "2026-11-04"]
    assert [r[0] for r in body[3:]] == ["total", "previous_period_total"]
    sent = header.index("sent")
    assert [r[sent] for r in body] == ["150", "0", "0", "150", "0"]


async def test_activity_csv_escapes_and_hands_on_the_cursor(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, campaign: str
) -> None:
    contact = await new_contact(client, account)
    for n in range(3):
        await event(session, account, contact, "bounce", T0 + timedelta(minutes=n),
                    data={"diag": "-550 no such user"})  # fmt: skip
    url = f"{base(account)}/reports/contacts/{contact}/activity"

    response = await client.get(url, headers=account.headers, params={"format": "csv", "limit": 2})
    header, *body = rows_of(response)

    assert header[-1] == "data"
    assert len(body) == 2
    assert body[0][header.index("type")] == "bounce"
    assert "550 no such user" in body[0][-1]
    cursor = response.headers["x-next-cursor"]
    rest = rows_of(
        await client.get(
            url, headers=account.headers, params={"format": "csv", "limit": 2, "cursor": cursor}
        )
    )
    assert len(rest) == 2
    assert body[0][0] != rest[1][0]


async def test_an_unknown_format_is_refused(
    client: httpx.AsyncClient, account: Account, campaign: str
) -> None:
    response = await client.get(
        f"{base(account)}/reports/campaigns/{campaign}",
        headers=account.headers,
        params={"format": "xlsx"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["query", "format"]
