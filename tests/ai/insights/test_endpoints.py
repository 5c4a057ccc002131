"""The insights and content-check routes over HTTP: answers, thresholds, permissions,
bad input, spamd away, and nothing of one workspace in another's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from maily.ai.checks.spam import SpamdClient
from maily.ai.insights.endpoints import get_spam_checker
from maily.kit.db import AsyncSession
from maily.models import Campaign, Delivery
from tests.ai.checks.spamd import Spamd
from tests.ai.checks.test_spam import CLEAN_MJML, SPAMMY_MJML
from tests.conftest import Account, sign_up
from tests.ports import free_port
from tests.reports.support import base, event, new_campaign, stats


async def api_key(
    client: httpx.AsyncClient, owner: Account, permissions: list[str]
) -> dict[str, str]:
    created = await client.post(
        f"{base(owner)}/api-keys",
        headers=owner.headers,
        json={"name": "insights", "permissions": permissions},
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


async def contact(client: httpx.AsyncClient, owner: Account, **fields: Any) -> uuid.UUID:
    created = await client.post(
        f"{base(owner)}/contacts",
        headers=owner.headers,
        json={"email": f"c-{uuid.uuid4().hex[:8]}@example.com", **fields},
    )
    assert created.status_code == 201, created.text
    return uuid.UUID(created.json()["id"])


async def messages(
    session: AsyncSession,
    owner: Account,
    campaign_id: uuid.UUID,
    contact_id: uuid.UUID,
    answered: list[bool],
) -> None:
    """One sent delivery per entry, three days apart, each of its own campaign (the
    ledger holds one row per campaign and contact)."""
    now = datetime.now(UTC)
    for i, opened in enumerate(answered):
        sent = now - timedelta(days=3 * (len(answered) - i))
        session.add(
            Delivery(
                workspace_id=owner.workspace_id,
                campaign_id=campaign_id if i == 0 else await _another(session, owner),
                contact_id=contact_id,
                email="x@example.com",
                status="sent",
                sent_at=sent,
                first_human_open_at=sent + timedelta(hours=1) if opened else None,
                first_human_click_at=sent + timedelta(hours=1) if opened and i % 2 else None,
            )
        )
    await session.flush()


async def _another(session: AsyncSession, owner: Account) -> uuid.UUID:
    row = Campaign(workspace_id=owner.workspace_id, name="Past", status="sent")
    session.add(row)
    await session.flush()
    return row.id


async def test_a_regular_readers_hours_score_and_risk(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    reader = await contact(client, account, timezone="America/New_York")
    campaign = await new_campaign(client, account)
    now = datetime.now(UTC)
    for day in range(1, 13):
        # 19:00 in New York, whatever the DST offset on the day.
        local = (
            (now - timedelta(days=day))
            .astimezone(ZoneInfo("America/New_York"))
            .replace(hour=19, minute=15)
        )
        await event(session, account, reader, "open", local.astimezone(UTC), campaign)
    await messages(
        session, account, campaign, reader, [True, True, False, True, True, False, False]
    )

    response = await client.get(
        f"{base(account)}/insights/contacts/{reader}", headers=account.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timezone"] == "America/New_York"
    send_time = body["send_time"]
    assert send_time["status"] == "ok"
    assert send_time["source"] == "contact"
    assert send_time["opens_and_clicks"] == 12
    best = send_time["best_hours"][0]
    assert best["hour"] == 19
    assert best["label"].endswith("19:00")
    next_at = datetime.fromisoformat(best["next_at"])
    assert next_at.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
    assert now < next_at <= now + timedelta(days=7)

    engagement = body["engagement"]
    assert engagement["status"] == "ok"
    assert engagement["messages"] == 7
    assert engagement["unanswered_in_a_row"] == 2
    # 4 of 7 answered: p = 5/9 with the prior; two silent messages in a row.
    assert engagement["churn_risk"] == pytest.approx(1 - (4 / 9) ** 2, abs=1e-3)
    assert engagement["risk_level"] == "medium"
    assert 0 < engagement["score"] < 100


async def test_a_newcomer_gets_not_enough_data_with_the_threshold(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    newcomer = await contact(client, account)
    response = await client.get(
        f"{base(account)}/insights/contacts/{newcomer}", headers=account.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timezone"] == "UTC"
    assert body["send_time"]["status"] == "insufficient_data"
    assert body["send_time"]["source"] == "workspace"
    assert body["send_time"]["min_opens_and_clicks"] == 5
    assert "at least 5" in body["send_time"]["reason"]
    assert len(body["send_time"]["best_hours"]) == 3  # the workspace's, as a campaign uses
    engagement = body["engagement"]
    assert engagement["status"] == "insufficient_data"
    assert engagement["min_messages"] == 5
    assert engagement["score"] is None
    assert engagement["churn_risk"] is None
    assert "at least 5" in engagement["reason"]


async def test_ab_significance_from_the_rollups(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    campaign = await new_campaign(client, account, ab=True)
    hour = datetime(2026, 11, 2, 9, tzinfo=UTC)
    await stats(session, account, campaign, hour, "A", sent=600, unique_human_opens=120,
                unique_human_clicks=30, unique_opens=400)  # fmt: skip
    await stats(session, account, campaign, hour + timedelta(hours=1), "A", sent=400,
                unique_human_opens=80, unique_human_clicks=20)  # fmt: skip
    await stats(session, account, campaign, hour, "B", sent=1000, unique_human_opens=260,
                unique_human_clicks=55)  # fmt: skip
    response = await client.get(
        f"{base(account)}/insights/campaigns/{campaign}/ab", headers=account.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["has_ab_test"] is True
    assert body["metric"] == "opens"
    assert [(v["name"], v["sent"], v["unique_human_opens"]) for v in body["variants"]] == [
        ("A", 1000, 200),
        ("B", 1000, 260),
    ]
    (opens,) = body["opens"]
    assert opens["leader"] == "B"
    assert opens["significant"] is True
    assert opens["p_value"] < 0.01
    assert opens["probability_to_beat"] > 0.99
    assert opens["verdict"].startswith("B beats A on opens at 99.")
    assert opens["verdict"].endswith("% confidence")
    assert body["verdict"] == opens["verdict"]
    (clicks,) = body["clicks"]
    assert clicks["significant"] is False
    assert clicks["verdict"].startswith("not significant yet; need ~")
    assert clicks["more_recipients_per_variant"] > 10_000


async def test_a_campaign_without_a_test_says_so(
    client: httpx.AsyncClient, account: Account
) -> None:
    campaign = await new_campaign(client, account)
    response = await client.get(
        f"{base(account)}/insights/campaigns/{campaign}/ab", headers=account.headers
    )
    assert response.status_code == 200
    assert response.json()["has_ab_test"] is False
    assert response.json()["verdict"] == "the campaign has no A/B test"


async def with_postal_address(client: httpx.AsyncClient, owner: Account) -> None:
    response = await client.patch(
        f"/api/v1/workspaces/{owner.workspace_id}",
        headers=owner.headers,
        json={"postal_address": "1 Main St, Springfield"},
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def spamd_checker(app: Any, spamd: Spamd) -> None:
    app.dependency_overrides[get_spam_checker] = lambda: SpamdClient(
        spamd.host, spamd.port, timeout_seconds=60
    )


@pytest.mark.usefixtures("spamd_checker")
async def test_content_check_of_clean_mjml(client: httpx.AsyncClient, account: Account) -> None:
    await with_postal_address(client, account)
    response = await client.post(
        f"{base(account)}/content-check",
        headers=account.headers,
        json={
            "subject": "Our December newsletter",
            "preheader": "Lectures and a new reading room",
            "mjml": CLEAN_MJML,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["passed"] is True, body["findings"]
    assert body["spam"]["is_spam"] is False
    assert body["spam"]["threshold"] == 5.0
    # The test server's public URL is http://127.0.0.1: Maily's own links say so once,
    # as the deployment's matter, not as the content's errors.
    (public,) = [f for f in body["findings"] if f["check"] == "public_url"]
    assert public["severity"] == "warning"
    assert "MAILY_API__PUBLIC_URL" in public["message"]


@pytest.mark.usefixtures("spamd_checker")
async def test_content_check_of_a_spammy_template(
    client: httpx.AsyncClient, account: Account
) -> None:
    await with_postal_address(client, account)
    created = await client.post(
        f"{base(account)}/templates",
        headers=account.headers,
        json={"name": "Promo", "kind": "mjml", "source": SPAMMY_MJML, "subject": "x"},
    )
    assert created.status_code == 201, created.text
    response = await client.post(
        f"{base(account)}/content-check",
        headers=account.headers,
        json={"subject": "FREE MONEY!!! ACT NOW", "template_id": created.json()["id"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["passed"] is False
    assert body["spam"]["is_spam"] is True
    assert body["spam"]["rules"][0]["name"] == "GTUBE"
    spam_findings = [f for f in body["findings"] if f["check"] == "spamassassin"]
    assert spam_findings[0]["severity"] == "error"
    assert "GTUBE (1000)" in spam_findings[0]["message"]
    # The compliance rules ran too: the subject shouts, the postal address is missing.
    assert {f["check"] for f in body["findings"]} - {"spamassassin"}


async def test_content_check_answers_without_spamd(
    app: Any, client: httpx.AsyncClient, account: Account
) -> None:
    port = free_port()
    app.dependency_overrides[get_spam_checker] = lambda: SpamdClient("127.0.0.1", port)
    await with_postal_address(client, account)
    response = await client.post(
        f"{base(account)}/content-check",
        headers=account.headers,
        json={"subject": "Our December newsletter", "mjml": CLEAN_MJML},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["spam"] is None
    (warning,) = [f for f in body["findings"] if f["check"] == "spamassassin"]
    assert warning["severity"] == "warning"
    assert "SpamAssassin was not consulted" in warning["message"]
    assert body["passed"] is True


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"subject": "Hi"}, 422, "either mjml or template_id"),
        ({"subject": "Hi", "mjml": "<mjml>", "template_id": str(uuid.uuid4())}, 422, "either"),
        ({"subject": "Hi", "template_id": str(uuid.uuid4())}, 404, "template not found"),
        ({"subject": "Hi {{ broken", "mjml": CLEAN_MJML}, 422, "subject"),
    ],
)
async def test_content_check_refuses_bad_input(
    app: Any,
    client: httpx.AsyncClient,
    account: Account,
    body: dict[str, Any],
    status: int,
    needle: str,
) -> None:
    app.dependency_overrides[get_spam_checker] = lambda: SpamdClient("127.0.0.1", free_port())
    response = await client.post(
        f"{base(account)}/content-check", headers=account.headers, json=body
    )
    assert response.status_code == status, response.text
    assert needle in response.text


async def routes(
    client: httpx.AsyncClient, owner: Account, session: AsyncSession
) -> list[tuple[str, str, dict[str, Any] | None]]:
    reader = await contact(client, owner)
    campaign = await new_campaign(client, owner, ab=True)
    await event(session, owner, reader, "open", datetime.now(UTC) - timedelta(days=1), campaign)
    return [
        ("GET", f"{base(owner)}/insights/contacts/{reader}", None),
        ("GET", f"{base(owner)}/insights/campaigns/{campaign}/ab", None),
        ("POST", f"{base(owner)}/content-check", {"subject": "News", "mjml": CLEAN_MJML}),
    ]


async def test_api_keys_need_their_scope(
    app: Any, client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    app.dependency_overrides[get_spam_checker] = lambda: SpamdClient("127.0.0.1", free_port())
    urls = await routes(client, account, session)
    reports = await api_key(client, account, ["reports:read"])
    templates = await api_key(client, account, ["templates:read"])
    for method, url, body in urls:
        needed, other = (templates, reports) if method == "POST" else (reports, templates)
        allowed = await client.request(method, url, headers=needed, json=body)
        assert allowed.status_code == 200, (url, allowed.text)
        denied = await client.request(method, url, headers=other, json=body)
        assert denied.status_code == 403, url


async def test_another_workspace_reads_nothing(
    app: Any, client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    app.dependency_overrides[get_spam_checker] = lambda: SpamdClient("127.0.0.1", free_port())
    urls = await routes(client, account, session)
    stranger = await sign_up(client)
    stranger_key = await api_key(client, stranger, ["reports:read", "templates:read"])
    for headers in (stranger.headers, stranger_key):
        for method, url, body in urls:
            response = await client.request(method, url, headers=headers, json=body)
            assert response.status_code == 404, url
        # Their own workspace, the first one's ids: not found either.
        for method, url, body in urls[:2]:
            own = url.replace(str(account.workspace_id), str(stranger.workspace_id))
            response = await client.request(method, own, headers=headers, json=body)
            assert response.status_code == 404, own
