"""The workspace dashboard: a period's totals and series against the previous period."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from maily.kit.db import AsyncSession
from tests.conftest import Account, sign_up
from tests.reports.support import T0, base, new_campaign, stats


def dashboard_url(account: Account) -> str:
    return f"{base(account)}/reports/dashboard"


@pytest.fixture
async def seeded(client: httpx.AsyncClient, account: Account, session: AsyncSession) -> Account:
    """Two campaigns over 2026-11-02..08, one of them with a week before too.

    `notified` has provider delivery notices; `plain` does not (delivered is derived)."""
    notified = await new_campaign(client, account, "Notified")
    plain = await new_campaign(client, account, "Plain")
    # Current period (Mon 2 Nov .. Sun 8 Nov).
    await stats(session, account, notified, T0, sent=100, delivered=95, unique_opens=40,
                unique_clicks=10, hard_bounces=5)  # fmt: skip
    await stats(session, account, notified, T0 + timedelta(days=2), unique_opens=10, complaints=1)
    await stats(session, account, plain, T0 + timedelta(days=6, hours=14), sent=200,
                soft_bounces=20, unique_opens=60, unique_clicks=30, unsubscribes=2)  # fmt: skip
    # Previous period (26 Oct .. 1 Nov) and one hour before it, which counts nowhere.
    await stats(session, account, notified, T0 - timedelta(days=3), sent=50, delivered=50,
                unique_opens=25, unique_clicks=5)  # fmt: skip
    await stats(session, account, plain, T0 - timedelta(days=7, hours=10), sent=1000)
    # Past the period's last day.
    await stats(session, account, plain, T0 + timedelta(days=7), sent=7)
    return account


async def test_totals_rates_and_previous_period(client: httpx.AsyncClient, seeded: Account) -> None:
    response = await client.get(
        dashboard_url(seeded),
        headers=seeded.headers,
        params={"from": "2026-11-02", "to": "2026-11-08"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"] == {"from": "2026-11-02", "to": "2026-11-08"}
    assert body["previous_period"] == {"from": "2026-10-26", "to": "2026-11-01"}
    assert body["campaigns"] == 2
    assert body["previous_campaigns"] == 1
    assert body["derived_delivered_campaigns"] == 1
    totals = body["totals"]
    assert totals["sent"] == 300
    # 95 from notices for one campaign, 200 - 20 bounces derived for the other.
    assert totals["delivered"] == 95 + 180
    assert totals["bounces"] == 25
    assert totals["unique_opens"] == 110
    assert totals["unique_clicks"] == 40
    assert body["rates"]["open_rate"] == round(110 / 275, 6)
    assert body["rates"]["click_to_open_rate"] == round(40 / 110, 6)
    assert body["previous_totals"]["sent"] == 50
    assert body["previous_rates"]["open_rate"] == 0.5
    sent = body["changes"]["sent"]
    assert sent == {"current": 300, "previous": 50, "difference": 250, "relative": 5.0}
    assert body["changes"]["complaints"]["relative"] is None  # nothing to compare with
    assert body["changes"]["complaints"]["difference"] == 1
    open_rate = body["changes"]["open_rate"]
    assert open_rate["difference"] == round(round(110 / 275, 6) - 0.5, 6)


async def test_daily_series_covers_every_day_of_the_period(
    client: httpx.AsyncClient, seeded: Account
) -> None:
    body = (
        await client.get(
            dashboard_url(seeded),
            headers=seeded.headers,
            params={"from": "2026-11-02", "to": "2026-11-08", "bucket": "day"},
        )
    ).json()

    series = body["series"]
    days = [datetime.fromisoformat(p["start"]) for p in series]
    assert days == [datetime(2026, 11, 2 + d, tzinfo=UTC) for d in range(7)]
    assert [p["counts"]["sent"] for p in series] == [100, 0, 0, 0, 0, 0, 200]
    assert [p["counts"]["unique_opens"] for p in series] == [40, 0, 10, 0, 0, 0, 60]
    assert series[6]["counts"]["delivered"] == 180
    assert series[1]["rates"]["open_rate"] is None
    assert sum(p["counts"]["sent"] for p in series) == body["totals"]["sent"]


async def test_weekly_series_starts_on_the_monday_of_the_first_day(
    client: httpx.AsyncClient, seeded: Account
) -> None:
    body = (
        await client.get(
            dashboard_url(seeded),
            headers=seeded.headers,
            params={"from": "2026-10-28", "to": "2026-11-10", "bucket": "week"},
        )
    ).json()

    starts = [datetime.fromisoformat(p["start"]).date() for p in body["series"]]
    assert starts == [date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9)]
    assert [p["counts"]["sent"] for p in body["series"]] == [50, 300, 7]
    assert body["previous_period"] == {"from": "2026-10-14", "to": "2026-10-27"}
    # The hour on 25 Oct falls in the previous period.
    assert body["previous_totals"]["sent"] == 1000


async def test_default_period_is_the_last_thirty_days(
    client: httpx.AsyncClient, account: Account
) -> None:
    body = (await client.get(dashboard_url(account), headers=account.headers)).json()

    today = datetime.now(UTC).date()
    assert body["period"] == {"from": str(today - timedelta(days=29)), "to": str(today)}
    assert len(body["series"]) == 30
    assert body["totals"]["sent"] == 0
    assert body["rates"]["open_rate"] is None


async def test_another_workspace_never_sees_these_numbers(
    client: httpx.AsyncClient, seeded: Account
) -> None:
    other = await sign_up(client)
    params = {"from": "2026-10-01", "to": "2026-11-30"}

    mine = (await client.get(dashboard_url(other), headers=other.headers, params=params)).json()
    theirs = await client.get(dashboard_url(seeded), headers=other.headers, params=params)

    assert mine["totals"]["sent"] == 0
    assert mine["campaigns"] == 0
    assert all(p["counts"]["sent"] == 0 for p in mine["series"])
    assert theirs.status_code == 404


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"from": "2026-11-31"}, 422, "valid date"),
        ({"to": "yesterday"}, 422, "valid date"),
        (
            {"from": "2026-11-09", "to": "2026-11-02"},
            400,
            "from (2026-11-09) is after to (2026-11-02)",
        ),
        ({"from": "2020-01-01", "to": "2026-11-02"}, 400, "at most 731"),
        ({"bucket": "month"}, 422, "'day' or 'week'"),
        ({"from": "0001-01-01", "to": "0001-01-05"}, 400, "from must be between 1970-01-01"),
        ({"to": "9999-12-31"}, 400, "to must be between 1970-01-01 and 2999-12-31"),
    ],
)
async def test_bad_periods_are_refused_with_a_message(
    client: httpx.AsyncClient, account: Account, params: dict[str, str], status: int, message: str
) -> None:
    response = await client.get(dashboard_url(account), headers=account.headers, params=params)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    text = error["message"] + " ".join(d["message"] for d in error.get("details", []))
    assert message in text
