"""AI providers through the API: keys never shown and stored encrypted, base URLs
refused with a reason, the test call, the usage report, permissions, and another
workspace seeing and changing nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from maily.kit.db import AsyncSession
from maily.models import AIUsage
from tests.ai.conftest import FAKE_ANTHROPIC_KEY, FAKE_OPENAI_KEY
from tests.ai.fakes import FakeAnthropic, FakeOpenAI, Text
from tests.conftest import Account, sign_up


def base(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}/ai/providers"


async def create(
    client: httpx.AsyncClient, account: Account, fake: FakeOpenAI | FakeAnthropic, **body: Any
) -> httpx.Response:
    anthropic = isinstance(fake, FakeAnthropic)
    payload = {
        "name": "Claude" if anthropic else "OpenAI",
        "kind": "anthropic" if anthropic else "openai",
        "base_url": fake.base_url,
        "model": "fake-claude" if anthropic else "fake-gpt",
        "api_key": FAKE_ANTHROPIC_KEY if anthropic else FAKE_OPENAI_KEY,
        "input_price_per_mtok": "2.5",
        "output_price_per_mtok": "10",
        **body,
    }
    return await client.post(base(account), headers=account.headers, json=payload)


async def api_key(client: httpx.AsyncClient, account: Account, *permissions: str) -> dict[str, str]:
    response = await client.post(
        f"/api/v1/workspaces/{account.workspace_id}/api-keys",
        headers=account.headers,
        json={"name": "narrow", "permissions": list(permissions)},
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


async def test_the_key_is_never_shown_and_stored_encrypted(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, fake_openai: FakeOpenAI
) -> None:
    created = await create(client, account, fake_openai)
    assert created.status_code == 201, created.text
    body = created.json()
    assert "api_key" not in body
    assert body["api_key_set"] is True
    assert body["api_key_last4"] == FAKE_OPENAI_KEY[-4:]
    assert body["base_url"] == fake_openai.base_url
    assert FAKE_OPENAI_KEY not in created.text

    listed = await client.get(base(account), headers=account.headers)
    assert [p["id"] for p in listed.json()] == [body["id"]]
    assert FAKE_OPENAI_KEY not in listed.text
    stored = (
        await session.execute(
            text("SELECT api_key FROM ai_providers WHERE id = :id"), {"id": body["id"]}
        )
    ).scalar_one()
    assert FAKE_OPENAI_KEY not in stored
    assert stored.startswith("gAAAA")

    removed = await client.patch(
        f"{base(account)}/{body['id']}", headers=account.headers, json={"api_key": ""}
    )
    assert removed.json()["api_key_set"] is False
    assert removed.json()["api_key_last4"] is None


async def test_crud_and_fallback_order(
    client: httpx.AsyncClient,
    account: Account,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> None:
    second = (await create(client, account, fake_anthropic, priority=20)).json()
    first = (await create(client, account, fake_openai, priority=10)).json()
    listed = await client.get(base(account), headers=account.headers)
    assert [p["name"] for p in listed.json()] == ["OpenAI", "Claude"]

    duplicate = await create(client, account, fake_openai)
    assert duplicate.status_code == 409
    assert "exists already" in duplicate.json()["error"]["message"]

    changed = await client.patch(
        f"{base(account)}/{second['id']}",
        headers=account.headers,
        json={"priority": 1, "enabled": False, "model": "other-claude", "timeout_seconds": 5},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["enabled"] is False
    assert changed.json()["model"] == "other-claude"
    assert changed.json()["api_key_last4"] == FAKE_ANTHROPIC_KEY[-4:]  # the key is kept
    listed = await client.get(base(account), headers=account.headers)
    assert [p["name"] for p in listed.json()] == ["Claude", "OpenAI"]

    gone = await client.delete(f"{base(account)}/{first['id']}", headers=account.headers)
    assert gone.status_code == 204
    missing = await client.get(f"{base(account)}/{first['id']}", headers=account.headers)
    assert missing.status_code == 404

    audit = await client.get(
        f"/api/v1/workspaces/{account.workspace_id}/audit-log",
        headers=account.headers,
        params={"target_type": "ai_provider"},
    )
    entries = audit.json()["items"]
    assert [e["action"] for e in entries] == [
        "ai_provider.deleted",
        "ai_provider.updated",
        "ai_provider.created",
        "ai_provider.created",
    ]
    assert entries[1]["details"]["fields"] == ["enabled", "model", "priority", "timeout_seconds"]
    assert FAKE_ANTHROPIC_KEY not in audit.text
    assert FAKE_OPENAI_KEY not in audit.text


async def test_refused_base_urls_get_422_with_the_reason(
    client: httpx.AsyncClient, account: Account, fake_openai: FakeOpenAI
) -> None:
    for url, reason in [
        ("ftp://models.example.com/v1", "https://"),
        ("http://93.184.215.14/v1", "plain http"),
        ("https://10.1.2.3/v1", "private"),
        ("https://[::ffff:169.254.169.254]/v1", "link-local"),
        ("https://2130706433/v1", "unusual form"),
        ("https://user:pw@api.example.com/v1", "user name"),
    ]:
        response = await create(client, account, fake_openai, base_url=url)
        assert response.status_code == 422, (url, response.text)
        assert reason in response.json()["error"]["message"], (url, response.text)
    provider = (await create(client, account, fake_openai)).json()
    moved = await client.patch(
        f"{base(account)}/{provider['id']}",
        headers=account.headers,
        json={"base_url": "http://169.254.169.254/latest"},
    )
    assert moved.status_code == 422
    assert "link-local" in moved.json()["error"]["message"]
    kept = await client.get(f"{base(account)}/{provider['id']}", headers=account.headers)
    assert kept.json()["base_url"] == fake_openai.base_url
    bad = await create(client, account, fake_openai, kind="gemini")
    assert bad.status_code == 422
    negative = await create(client, account, fake_openai, input_price_per_mtok="-1")
    assert negative.status_code == 422


async def test_the_test_call_answers_ok_or_the_reason(
    client: httpx.AsyncClient,
    account: Account,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> None:
    good = (await create(client, account, fake_openai, enabled=False)).json()
    fake_openai.answer(Text("OK", input_tokens=40, output_tokens=2))
    tested = await client.post(f"{base(account)}/{good['id']}/test", headers=account.headers)
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is True
    assert tested.json()["message"] == "fake-gpt answered: OK"
    assert tested.json()["input_tokens"] == 40
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {FAKE_OPENAI_KEY}"
    assert fake_openai.requests[0].body["max_completion_tokens"] == 16

    wrong = (await create(client, account, fake_anthropic, api_key="sk-ant-wrong-key")).json()
    failed = await client.post(f"{base(account)}/{wrong['id']}/test", headers=account.headers)
    assert failed.status_code == 200
    assert failed.json()["ok"] is False
    assert "refused the API key (HTTP 401" in failed.json()["message"]

    report = await client.get(
        f"/api/v1/workspaces/{account.workspace_id}/ai/usage", headers=account.headers
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["total"]["requests"] == 1
    assert body["total"]["input_tokens"] == 40
    assert abs(body["total"]["cost_usd"] - (40 * 2.5 + 2 * 10) / 1e6) < 1e-12
    assert body["days"][0]["day"] == datetime.now(UTC).date().isoformat()
    assert body["models"][0]["provider_name"] == "OpenAI"
    assert body["models"][0]["model"] == "fake-gpt"


async def test_usage_report_ranges(client: httpx.AsyncClient, account: Account) -> None:
    usage = f"/api/v1/workspaces/{account.workspace_id}/ai/usage"
    today = datetime.now(UTC).date()
    empty = await client.get(usage, headers=account.headers)
    assert empty.json()["total"]["requests"] == 0
    assert empty.json()["start"] == (today - timedelta(days=29)).isoformat()
    backwards = await client.get(
        usage, headers=account.headers, params={"start": "2026-02-02", "end": "2026-02-01"}
    )
    assert backwards.status_code == 422
    too_long = await client.get(
        usage, headers=account.headers, params={"start": "2020-01-01", "end": "2026-01-01"}
    )
    assert too_long.status_code == 422


async def test_ai_manage_is_required(
    client: httpx.AsyncClient, account: Account, fake_openai: FakeOpenAI
) -> None:
    provider = (await create(client, account, fake_openai)).json()
    narrow = await api_key(client, account, "ai:use")
    for method, path in [
        ("GET", base(account)),
        ("POST", base(account)),
        ("GET", f"{base(account)}/{provider['id']}"),
        ("PATCH", f"{base(account)}/{provider['id']}"),
        ("DELETE", f"{base(account)}/{provider['id']}"),
        ("POST", f"{base(account)}/{provider['id']}/test"),
        ("GET", f"/api/v1/workspaces/{account.workspace_id}/ai/usage"),
    ]:
        response = await client.request(method, path, headers=narrow, json={})
        assert response.status_code == 403, (method, path, response.text)
    allowed = await api_key(client, account, "ai:manage")
    assert (await client.get(base(account), headers=allowed)).status_code == 200


async def test_another_workspace_can_neither_read_nor_change(
    client: httpx.AsyncClient, account: Account, fake_openai: FakeOpenAI
) -> None:
    mine = (await create(client, account, fake_openai)).json()
    other = await sign_up(client)
    theirs = base(other)
    assert (await client.get(theirs, headers=other.headers)).json() == []
    one = f"{theirs}/{mine['id']}"
    assert (await client.get(one, headers=other.headers)).status_code == 404
    patched = await client.patch(one, headers=other.headers, json={"name": "taken over"})
    assert patched.status_code == 404
    assert (await client.post(f"{one}/test", headers=other.headers)).status_code == 404
    assert (await client.delete(one, headers=other.headers)).status_code == 404
    # Their token on my workspace's paths: no access to the workspace at all.
    foreign = await client.get(base(account), headers=other.headers)
    assert foreign.status_code == 404
    assert fake_openai.requests == []
    still = await client.get(f"{base(account)}/{mine['id']}", headers=account.headers)
    assert still.json()["name"] == "OpenAI"
    unknown = await client.get(f"{base(account)}/{uuid.uuid4()}", headers=account.headers)
    assert unknown.status_code == 404


async def test_usage_report_by_day_and_model_over_a_range(
    client: httpx.AsyncClient, account: Account, session: AsyncSession, fake_openai: FakeOpenAI
) -> None:
    provider = (await create(client, account, fake_openai, name="Main")).json()
    workspace_id = account.workspace_id
    other = await sign_up(client)

    def call(day: int, hour: int, model: str, tokens: int, cost: str, **extra: Any) -> AIUsage:
        return AIUsage(
            workspace_id=extra.pop("workspace_id", workspace_id),
            provider_id=extra.pop("provider_id", uuid.UUID(provider["id"])),
            provider_name=extra.pop("provider_name", "Main (old name)"),
            model=model,
            task_kind="draft_campaign",
            requests=1,
            input_tokens=tokens,
            output_tokens=tokens // 10,
            cost_usd=Decimal(cost),
            call_key=uuid.uuid4().hex,
            at=datetime(2026, 3, day, hour, 30, tzinfo=UTC),
        )

    deleted = uuid.uuid4()
    session.add_all(
        [
            call(1, 23, "fake-gpt", 1000, "0.01"),  # before the range
            call(2, 0, "fake-gpt", 2000, "0.02"),
            call(2, 23, "fake-gpt-mini", 100, "0.001"),
            call(3, 12, "fake-gpt", 3000, "0.03"),
            call(3, 13, "old-model", 500, "0.5", provider_id=deleted, provider_name="Gone"),
            call(4, 0, "fake-gpt", 9999, "9"),  # after the range
            call(3, 1, "fake-gpt", 7777, "7", workspace_id=other.workspace_id),
        ]
    )
    await session.flush()
    report = await client.get(
        f"/api/v1/workspaces/{workspace_id}/ai/usage",
        headers=account.headers,
        params={"start": "2026-03-02", "end": "2026-03-03"},
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["total"]["requests"] == 4
    assert body["total"]["input_tokens"] == 5600
    assert abs(body["total"]["cost_usd"] - 0.551) < 1e-9
    assert [(d["day"], d["requests"], d["input_tokens"]) for d in body["days"]] == [
        ("2026-03-02", 2, 2100),
        ("2026-03-03", 2, 3500),
    ]
    assert [(m["provider_name"], m["model"], m["requests"]) for m in body["models"]] == [
        ("Gone", "old-model", 1),  # costliest first; a deleted provider keeps its name
        ("Main", "fake-gpt", 2),  # under the provider's current name
        ("Main", "fake-gpt-mini", 1),
    ]
