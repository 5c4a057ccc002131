"""The campaigns API: editing, starting with the CAN-SPAM check, moves, test sends, A/B."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from maily.campaigns.engine import CampaignEngine
from maily.delivery.parts import DeliveryParts
from maily.kit.db import AsyncSession
from maily.models import Delivery
from tests.campaigns.support import GOOD_BODY, RecordingTransport, StandInComposer
from tests.conftest import Account

ADDRESS = "1 Main St, Springfield, USA"


@pytest.fixture
def composer() -> StandInComposer:
    return StandInComposer()


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def wired(app: Any, composer: StandInComposer, transport: RecordingTransport) -> None:
    app.state.delivery_parts = DeliveryParts(composer, transport)


class Api:
    def __init__(self, client: httpx.AsyncClient, account: Account) -> None:
        self.client = client
        self.account = account
        self.base = f"/api/v1/workspaces/{account.workspace_id}"

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(
            method, f"{self.base}{path}", headers=self.account.headers, **kwargs
        )

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.call(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    async def contact(self, email: str, list_id: str) -> str:
        body = {"email": email, "list_ids": [list_id], "first_name": email.split("@")[0].title()}
        return str((await self.ok("POST", "/contacts", 201, json=body))["id"])

    async def ready_campaign(self, composer: StandInComposer, **extra: Any) -> dict[str, Any]:
        """A campaign with an audience of two and compliant content."""
        await self.client.patch(
            self.base, headers=self.account.headers, json={"postal_address": ADDRESS}
        )
        mailing_list = await self.ok("POST", "/lists", 201, json={"name": "News"})
        await self.contact("ann@example.com", mailing_list["id"])
        await self.contact("bob@example.com", mailing_list["id"])
        body = {
            "name": "Winter",
            "subject": "Winter news",
            "template_id": str(composer.template(GOOD_BODY)),
            "sender_id": str(uuid.uuid4()),
            "list_ids": [mailing_list["id"]],
            **extra,
        }
        created: dict[str, Any] = await self.ok("POST", "/campaigns", 201, json=body)
        return created


@pytest.fixture
def api(client: httpx.AsyncClient, account: Account) -> Api:
    return Api(client, account)


async def test_create_read_update_list_and_delete(api: Api) -> None:
    mailing_list = await api.ok("POST", "/lists", 201, json={"name": "News"})
    created = await api.ok(
        "POST",
        "/campaigns",
        201,
        json={"name": "Spring", "subject": "Hello", "list_ids": [mailing_list["id"]]},
    )
    assert created["status"] == "draft"
    assert created["schedule"] == {
        "send_mode": "now",
        "send_at": None,
        "local_send_at": None,
        "timezone": "UTC",
    }
    path = f"/campaigns/{created['id']}"
    assert (await api.ok("GET", path))["subject"] == "Hello"

    updated = await api.ok("PATCH", path, json={"subject": "Hello again", "preheader": "Read me"})
    assert (updated["subject"], updated["preheader"]) == ("Hello again", "Read me")
    assert updated["list_ids"] == [mailing_list["id"]]

    listed = await api.ok("GET", "/campaigns")
    assert [c["id"] for c in listed["items"]] == [created["id"]]
    assert (await api.ok("GET", "/campaigns?status=sent"))["items"] == []

    await api.ok("DELETE", path, 204)
    assert (await api.call("GET", path)).status_code == 404


async def test_references_and_fields_are_checked(api: Api) -> None:
    missing = str(uuid.uuid4())
    response = await api.call("POST", "/campaigns", json={"name": "X", "list_ids": [missing]})
    assert response.status_code == 422
    assert f"there is no list {missing}" in response.json()["error"]["message"]
    response = await api.call("POST", "/campaigns", json={"name": "X", "segment_ids": [missing]})
    assert response.status_code == 422
    for bad in (
        {"name": "X", "subject": "Hi\r\nBcc: everyone@example.com"},
        {"name": "X", "schedule": {"send_mode": "at"}},
        {"name": "X", "schedule": {"timezone": "Mars/Olympus_Mons"}},
        {
            "name": "X",
            "schedule": {"send_mode": "local_time", "local_send_at": "2026-12-24T09:00:00Z"},
        },
        # An offset is refused in every mode: the value is kept for a later switch.
        {"name": "X", "schedule": {"local_send_at": "2026-12-24T09:00:00Z"}},
        {"name": "X", "ab_test": {"variants": [{"subject": "only one"}]}},
        {"name": "X", "ab_test": {"variants": [{"subject": str(i)} for i in range(6)]}},
        {"name": "X", "ab_test": {"variants": [{"subject": "a"}, {}]}},
    ):
        assert (await api.call("POST", "/campaigns", json=bad)).status_code == 422, bad


async def test_a_campaign_cannot_start_without_what_it_needs(api: Api, wired: None) -> None:
    created = await api.ok("POST", "/campaigns", 201, json={"name": "Empty"})

    response = await api.call("POST", f"/campaigns/{created['id']}/start")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "campaign_not_ready"
    assert [d["missing"] for d in error["details"]] == [
        "audience (a list or a segment)",
        "subject",
        "template",
        "sender",
    ]


async def test_the_can_spam_check_names_what_the_content_lacks(
    api: Api, wired: None, composer: StandInComposer
) -> None:
    created = await api.ready_campaign(composer)
    path = f"/campaigns/{created['id']}"
    # No unsubscribe link in the template, and no postal address for the workspace.
    no_link = composer.template("Hi {{first_name}}!\n{{postal_address}}")
    await api.ok("PATCH", path, json={"template_id": str(no_link)})
    await api.client.patch(api.base, headers=api.account.headers, json={"postal_address": ""})

    response = await api.call("POST", f"{path}/start")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "campaign_not_ready"
    assert "unsubscribe link" in error["message"]
    assert "postal address" in error["message"]
    assert [d["missing"] for d in error["details"]] == ["unsubscribe link", "postal address"]

    await api.client.patch(api.base, headers=api.account.headers, json={"postal_address": ADDRESS})
    response = await api.call("POST", f"{path}/start")
    assert response.status_code == 409
    assert [d["missing"] for d in response.json()["error"]["details"]] == ["unsubscribe link"]

    await api.ok("PATCH", path, json={"template_id": str(composer.template(GOOD_BODY))})
    started = await api.ok("POST", f"{path}/start")
    assert started["status"] == "scheduled"


async def test_without_a_composer_starting_is_unavailable(api: Api, app: Any) -> None:
    app.state.delivery_parts = None
    created = await api.ready_campaign(StandInComposer())
    response = await api.call("POST", f"/campaigns/{created['id']}/start")
    assert response.status_code == 503
    assert "composer" in response.json()["error"]["message"]


async def test_only_legal_moves_are_allowed_and_errors_name_both_states(
    api: Api, wired: None, composer: StandInComposer
) -> None:
    created = await api.ready_campaign(composer)
    path = f"/campaigns/{created['id']}"
    for action, target in (("pause", "paused"), ("resume", "sending"), ("cancel", "cancelled")):
        response = await api.call("POST", f"{path}/{action}")
        assert response.status_code == 409, action
        error = response.json()["error"]
        assert error["code"] == "illegal_transition"
        assert error["message"] == f"a campaign cannot go from draft to {target}"

    assert (await api.ok("POST", f"{path}/start"))["status"] == "scheduled"
    again = await api.call("POST", f"{path}/start")
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "a campaign cannot go from scheduled to scheduled"
    # Scheduled campaigns are not edited in place: unschedule first.
    assert (await api.call("PATCH", path, json={"subject": "x"})).status_code == 409
    assert (await api.call("DELETE", path)).status_code == 409
    assert (await api.ok("POST", f"{path}/unschedule"))["status"] == "draft"
    assert (await api.ok("PATCH", path, json={"subject": "Edited"}))["subject"] == "Edited"
    await api.ok("POST", f"{path}/start")
    assert (await api.ok("POST", f"{path}/cancel"))["status"] == "cancelled"
    response = await api.call("POST", f"{path}/resume")
    assert response.json()["error"]["message"] == "a campaign cannot go from cancelled to sending"


async def test_start_times_follow_the_schedule(
    api: Api, wired: None, composer: StandInComposer
) -> None:
    created = await api.ready_campaign(composer)
    path = f"/campaigns/{created['id']}"
    past = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    response = await api.call(
        "POST", f"{path}/start", json={"schedule": {"send_mode": "at", "send_at": past}}
    )
    assert response.status_code == 422
    assert "in the past" in response.json()["error"]["message"]

    later = datetime.now(UTC) + timedelta(days=3)
    started = await api.ok(
        "POST",
        f"{path}/start",
        json={"schedule": {"send_mode": "at", "send_at": later.isoformat()}},
    )
    assert datetime.fromisoformat(started["scheduled_at"]) == later

    await api.ok("POST", f"{path}/unschedule")
    wall = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0, tzinfo=None)
    schedule = {
        "send_mode": "local_time",
        "local_send_at": wall.isoformat(),
        "timezone": "Asia/Tokyo",
    }
    started = await api.ok("POST", f"{path}/start", json={"schedule": schedule})
    # The first zone to reach the wall-clock time is UTC+14.
    assert datetime.fromisoformat(started["scheduled_at"]) == wall.replace(tzinfo=UTC) - timedelta(
        hours=14
    )
    assert started["schedule"]["timezone"] == "Asia/Tokyo"


async def test_duplicate_makes_a_draft_copy(
    api: Api, wired: None, composer: StandInComposer
) -> None:
    created = await api.ready_campaign(
        composer, ab_test={"variants": [{"subject": "A"}, {"subject": "B"}], "test_percent": 10}
    )
    await api.ok("POST", f"/campaigns/{created['id']}/start")

    copy = await api.ok("POST", f"/campaigns/{created['id']}/duplicate", 201)

    assert copy["id"] != created["id"]
    assert copy["status"] == "draft"
    assert copy["name"] == "Copy of Winter"
    for key in ("subject", "template_id", "sender_id", "list_ids", "schedule"):
        assert copy[key] == created[key], key
    assert copy["ab_test"]["variants"] == created["ab_test"]["variants"]
    assert copy["scheduled_at"] is None


async def test_a_test_send_goes_out_at_once_and_leaves_no_ledger_rows(
    api: Api,
    wired: None,
    composer: StandInComposer,
    transport: RecordingTransport,
    session: AsyncSession,
) -> None:
    created = await api.ready_campaign(composer)
    path = f"/campaigns/{created['id']}/test-send"

    result = await api.ok("POST", path, json={"emails": ["Ann@Example.com", "boss@corp.example"]})

    assert result == {
        "results": [
            {"email": "ann@example.com", "outcome": "sent", "code": 250, "detail": ""},
            {"email": "boss@corp.example", "outcome": "sent", "code": 250, "detail": ""},
        ]
    }
    assert transport.recipients() == ["ann@example.com", "boss@corp.example"]
    first = transport.messages[0]
    assert first.delivery_id is None
    assert first.subject == "Winter news"
    assert first.text is not None
    assert "Hi Ann!" in first.text  # the matching contact's data
    assert ADDRESS in first.text
    count = await session.scalar(select(func.count()).select_from(Delivery))
    assert count == 0
    bad = await api.call("POST", path, json={"emails": ["not an address"]})
    assert bad.status_code == 422
    assert (
        await api.call("POST", path, json={"emails": ["a@b.example"], "variant": "B"})
    ).status_code == 422


async def test_sending_needs_the_send_permission(
    api: Api, wired: None, composer: StandInComposer
) -> None:
    created = await api.ready_campaign(composer)
    key = await api.ok(
        "POST",
        "/api-keys",
        201,
        json={"name": "writer", "permissions": ["campaigns:read", "campaigns:write"]},
    )
    headers = {"Authorization": f"Bearer {key['key']}"}
    path = f"{api.base}/campaigns/{created['id']}"
    for action in ("start", "pause", "cancel", "test-send"):
        response = await api.client.post(
            f"{path}/{action}", headers=headers, json={"emails": ["a@b.example"]}
        )
        assert response.status_code == 403, action
        assert "campaigns:send" in response.json()["error"]["message"]
    assert (await api.client.patch(path, headers=headers, json={"name": "ok"})).status_code == 200


async def test_progress_and_a_winner_chosen_by_hand(
    api: Api, wired: None, composer: StandInComposer, session: AsyncSession
) -> None:
    created = await api.ready_campaign(
        composer,
        ab_test={"variants": [{"subject": "A"}, {"subject": "B"}], "test_percent": 100},
    )
    path = f"/campaigns/{created['id']}"
    assert (await api.call("POST", f"{path}/ab-winner", json={"variant": "A"})).status_code == 409
    await api.ok("POST", f"{path}/start")
    campaign = await CampaignEngine(session).begin(
        api.account.workspace_id, uuid.UUID(created["id"])
    )
    assert campaign is not None
    assert campaign.status == "sending"

    progress = await api.ok("GET", f"{path}/progress")
    assert progress["status"] == "sending"
    assert progress["total"] == 2
    assert progress["counts"]["queued"] == 2
    assert set(progress["counts"]) == {
        "queued", "leased", "sent", "deferred", "bounced", "failed", "unknown", "skipped",
    }  # fmt: skip
    assert [v["name"] for v in progress["variants"]] == ["A", "B"]

    response = await api.call("POST", f"{path}/ab-winner", json={"variant": "C"})
    assert response.status_code == 422
    chosen = await api.ok("POST", f"{path}/ab-winner", json={"variant": "B"})
    assert chosen["ab_test"]["winner"] == "B"
    again = await api.call("POST", f"{path}/ab-winner", json={"variant": "A"})
    assert again.status_code == 409
    assert (await api.ok("GET", f"{path}/progress"))["winner"] == "B"
