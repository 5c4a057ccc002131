"""The outbox transport stores mail in PostgreSQL; the API lists, shows and clears it."""

from __future__ import annotations

import email
import email.policy
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker

from maily.delivery.transports.base import Outcome, Transport
from maily.delivery.transports.outbox import OutboxTransport
from maily.kit.db import AsyncSession
from maily.models import OutboxMessage
from tests.conftest import Account, sign_up
from tests.delivery.fake_providers import outgoing
from tests.delivery.outbox.tenancy_seed import sessionmaker_on


@pytest.fixture
def outbox_sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return sessionmaker_on(connection)


@pytest.fixture
async def outbox(
    outbox_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[OutboxTransport]:
    transport = OutboxTransport(outbox_sessionmaker)
    yield transport
    await transport.aclose()


@pytest.fixture
def inserts(connection: AsyncConnection) -> Iterator[list[str]]:
    """INSERT statements into outbox_messages run on the test's connection."""
    seen: list[str] = []

    def record(_: Any, __: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX_MESSAGES"):
            seen.append(statement)

    sync_engine = connection.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(sync_engine, "before_cursor_execute", record)


def base(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}/outbox"


async def test_send_stores_the_batch_in_one_insert(
    outbox: OutboxTransport, account: Account, session: AsyncSession, inserts: list[str]
) -> None:
    assert isinstance(outbox, Transport)
    delivery_ids = [uuid.uuid4() for _ in range(3)]
    messages = [
        outgoing(f"r{i}@example.org", workspace_id=account.workspace_id, delivery_id=d)
        for i, d in enumerate(delivery_ids)
    ]
    results = await outbox.send(messages)

    assert [r.outcome for r in results] == [Outcome.sent] * 3
    assert len(inserts) == 1
    rows = {
        row.id: row
        for row in (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.workspace_id == account.workspace_id)
            )
        ).scalars()
    }
    for message, result in zip(messages, results, strict=True):
        assert result.provider_message_id is not None
        row = rows[uuid.UUID(result.provider_message_id)]
        assert (row.recipient, row.delivery_id, row.envelope_from) == (
            message.recipient,
            message.delivery_id,
            message.envelope_from,
        )
        assert row.raw == message.data
        assert row.size == len(message.data)
        assert row.subject == message.subject


async def test_an_unstorable_message_does_not_hold_up_the_batch(
    outbox: OutboxTransport, account: Account
) -> None:
    too_long = "x" * 320 + "@example.org"
    results = await outbox.send(
        [
            outgoing(too_long, workspace_id=account.workspace_id),
            outgoing("fine@example.org", workspace_id=account.workspace_id),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.failed, Outcome.sent]
    assert "longer than 320" in results[0].detail


async def test_database_trouble_defers_every_message() -> None:
    transport = OutboxTransport.from_url("postgresql://maily@127.0.0.1:1/nowhere")
    try:
        results = await transport.send([outgoing("a@example.org"), outgoing("b@example.org")])
    finally:
        await transport.aclose()
    assert [r.outcome for r in results] == [Outcome.deferred] * 2
    assert "could not store" in results[0].detail


async def test_closed_outbox_defers(outbox_sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    transport = OutboxTransport(outbox_sessionmaker)
    await transport.aclose()
    [result] = await transport.send([outgoing("a@example.org")])
    assert result.outcome is Outcome.deferred


async def test_list_newest_first_with_filters_and_pages(
    outbox: OutboxTransport, client: httpx.AsyncClient, account: Account
) -> None:
    delivery_id = uuid.uuid4()
    first = await outbox.send(
        [
            outgoing("ann@example.org", workspace_id=account.workspace_id, subject="One"),
            outgoing(
                "bob@example.org",
                workspace_id=account.workspace_id,
                subject="Two",
                delivery_id=delivery_id,
            ),
        ]
    )
    second = await outbox.send(
        [outgoing("ann@example.org", workspace_id=account.workspace_id, subject="Three")]
    )
    ids = [r.provider_message_id for r in first + second]

    listed = await client.get(base(account), headers=account.headers)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [i["id"] for i in items] == ids[::-1]
    assert items[0]["subject"] == "Three"
    assert items[0]["size"] > 0
    assert "raw" not in items[0]

    by_recipient = await client.get(
        base(account), params={"recipient": "ann@example.org"}, headers=account.headers
    )
    assert [i["subject"] for i in by_recipient.json()["items"]] == ["Three", "One"]
    by_delivery = await client.get(
        base(account), params={"delivery_id": str(delivery_id)}, headers=account.headers
    )
    assert [i["subject"] for i in by_delivery.json()["items"]] == ["Two"]

    page = await client.get(base(account), params={"limit": 2}, headers=account.headers)
    assert len(page.json()["items"]) == 2
    cursor = page.json()["next_cursor"]
    rest = await client.get(
        base(account), params={"limit": 2, "cursor": cursor}, headers=account.headers
    )
    assert [i["subject"] for i in rest.json()["items"]] == ["One"]
    assert rest.json()["next_cursor"] is None

    bad = await client.get(base(account), params={"recipient": "a\x00b"}, headers=account.headers)
    assert bad.status_code == 422


async def test_read_a_message_and_its_raw_form(
    outbox: OutboxTransport, client: httpx.AsyncClient, account: Account
) -> None:
    message = outgoing(
        "reader@example.org",
        workspace_id=account.workspace_id,
        subject="Grüße aus Berlin",
        text="Plain words.",
        html="<p>HTML words.</p>",
    )
    [result] = await outbox.send([message])
    url = f"{base(account)}/{result.provider_message_id}"

    detail = await client.get(url, headers=account.headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["subject"] == "Grüße aus Berlin"
    assert body["recipient"] == "reader@example.org"
    assert body["text"].strip() == "Plain words."
    assert body["html"].strip() == "<p>HTML words.</p>"
    headers = {h["name"]: h["value"] for h in body["headers"]}
    assert headers["Subject"] == "Grüße aus Berlin"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    raw = await client.get(f"{url}/raw", headers=account.headers)
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.content == message.data
    parsed = email.message_from_bytes(raw.content, policy=email.policy.default)
    assert parsed["To"] == "reader@example.org"

    missing = await client.get(f"{base(account)}/{uuid.uuid4()}", headers=account.headers)
    assert missing.status_code == 404


async def test_clear_empties_only_this_workspace(
    outbox: OutboxTransport, client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    other = await sign_up(client)
    await outbox.send(
        [
            outgoing("a@example.org", workspace_id=account.workspace_id),
            outgoing("b@example.org", workspace_id=account.workspace_id),
            outgoing("c@example.org", workspace_id=other.workspace_id),
        ]
    )
    cleared = await client.delete(base(account), headers=account.headers)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json() == {"deleted": 2}
    assert (await client.get(base(account), headers=account.headers)).json()["items"] == []
    remaining = await session.scalar(
        select(func.count()).where(OutboxMessage.workspace_id == other.workspace_id)
    )
    assert remaining == 1


async def test_other_workspaces_cannot_see_the_mail(
    outbox: OutboxTransport, client: httpx.AsyncClient, account: Account
) -> None:
    stranger = await sign_up(client)
    [result] = await outbox.send([outgoing("a@example.org", workspace_id=account.workspace_id)])
    message_id = result.provider_message_id
    # A's workspace id: not a member, so not found.
    for path in ("", f"/{message_id}", f"/{message_id}/raw"):
        response = await client.get(base(account) + path, headers=stranger.headers)
        assert response.status_code == 404, path
    assert (await client.delete(base(account), headers=stranger.headers)).status_code == 404
    # B's own workspace with A's message id.
    own = f"/api/v1/workspaces/{stranger.workspace_id}/outbox/{message_id}"
    assert (await client.get(own, headers=stranger.headers)).status_code == 404
    assert (await client.get(base(stranger), headers=stranger.headers)).json()["items"] == []


async def test_viewing_needs_sending_read_and_clearing_sending_write(
    outbox: OutboxTransport, client: httpx.AsyncClient, account: Account
) -> None:
    [result] = await outbox.send([outgoing("a@example.org", workspace_id=account.workspace_id)])

    async def key(permissions: list[str]) -> dict[str, str]:
        created = await client.post(
            f"/api/v1/workspaces/{account.workspace_id}/api-keys",
            headers=account.headers,
            json={"name": "k", "permissions": permissions},
        )
        assert created.status_code == 201, created.text
        return {"Authorization": f"Bearer {created.json()['key']}"}

    no_sending = await key(["contacts:read"])
    reader = await key(["sending:read"])
    assert (await client.get(base(account), headers=no_sending)).status_code == 403
    message = f"{base(account)}/{result.provider_message_id}"
    assert (await client.get(message, headers=no_sending)).status_code == 403
    assert (await client.get(message, headers=reader)).status_code == 200
    denied = await client.delete(base(account), headers=reader)
    assert denied.status_code == 403
    assert "sending:write" in denied.json()["error"]["message"]


async def test_html_only_message_has_no_text_part(
    outbox: OutboxTransport, client: httpx.AsyncClient, account: Account
) -> None:
    [result] = await outbox.send(
        [outgoing("a@example.org", workspace_id=account.workspace_id, text=None)]
    )
    detail = await client.get(
        f"{base(account)}/{result.provider_message_id}", headers=account.headers
    )
    assert detail.status_code == 200, detail.text
    assert detail.json()["text"] is None
    assert "<b>HTML</b>" in detail.json()["html"]
