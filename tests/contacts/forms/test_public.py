"""The public side of signup forms: hosted page, submissions, honeypot, rate limits,
double opt-in confirmation, and what a visitor can (not) learn or inject."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import select, update

from maily.contacts import subscriptions
from maily.contacts.forms.endpoints import SubmissionLimits, submission_limits
from maily.kit.db import AsyncSession
from maily.models import ConsentRecord, Contact, ListMembership, SubscriptionConfirmation
from tests.conftest import Account, sign_up
from tests.contacts.forms.support import XSS, make_field, make_form, make_list
from tests.contacts.subscriptions import factories as make

UA = "Mozilla/5.0 (Macintosh) Safari/605.1.15"


def path(form: dict[str, Any]) -> str:
    return f"/f/{form['public_id']}"


async def post(client: httpx.AsyncClient, form: dict[str, Any], **data: str) -> httpx.Response:
    return await client.post(path(form), data=data, headers={"User-Agent": UA})


async def contact_by_email(
    session: AsyncSession, workspace_id: uuid.UUID, email: str
) -> Contact | None:
    query = select(Contact).where(Contact.workspace_id == workspace_id, Contact.email == email)
    return (await session.execute(query.execution_options(populate_existing=True))).scalar()


async def memberships(session: AsyncSession, contact: Contact) -> dict[uuid.UUID, str]:
    query = select(ListMembership).where(
        ListMembership.workspace_id == contact.workspace_id,
        ListMembership.contact_id == contact.id,
    )
    rows = (await session.execute(query.execution_options(populate_existing=True))).scalars()
    return {m.list_id: m.status for m in rows}


async def test_hosted_page_shows_the_form(client: httpx.AsyncClient, account: Account) -> None:
    news = await make_list(client, account)
    await make_field(client, account, "birthday", "date")
    form = await make_form(
        client,
        account,
        news["id"],
        description="Once a month.\n\nUnsubscribe any time.",
        fields=[{"key": "first_name", "required": True}, {"key": "birthday"}],
    )
    page = await client.get(path(form))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Join our newsletter</h1>" in page.text
    assert "<p>Once a month.</p>" in page.text
    assert f'action="/f/{form["public_id"]}"' in page.text
    assert 'type="date"' in page.text
    assert 'name="fields.birthday"' in page.text
    assert 'name="url"' in page.text  # the honeypot
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_unknown_and_disabled_forms_are_not_found(
    client: httpx.AsyncClient, account: Account
) -> None:
    news = await make_list(client, account)
    form = await make_form(client, account, news["id"], enabled=False)
    for url in (path(form), "/f/does-not-exist"):
        assert (await client.get(url)).status_code == 404
        posted = await client.post(url, data={"email": "ann@example.com"})
        assert posted.status_code == 404
        assert "not available" in posted.text


async def test_user_text_is_escaped_on_the_hosted_page(
    client: httpx.AsyncClient, account: Account
) -> None:
    news = await make_list(client, account)
    await make_field(client, account, "tier", "choice", choices=[XSS])
    form = await make_form(
        client,
        account,
        news["id"],
        title=XSS,
        description=XSS,
        fields=[{"key": "last_name", "label": XSS}, {"key": "tier"}],
        success_message=XSS,
    )
    for response in (
        await client.get(path(form)),
        # A submission with errors shows the page again with what the visitor typed.
        await post(client, form, email=XSS, last_name=XSS),
        await post(client, form, email="ann@example.com"),  # the thank-you page
    ):
        assert "<script>" not in response.text
        assert "<img" not in response.text
        assert str(escape(XSS)) in response.text


async def test_single_opt_in_signup(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    news = await make_list(client, account)
    await make_field(client, account, "age", "number")
    form = await make_form(
        client,
        account,
        news["id"],
        fields=[{"key": "first_name"}, {"key": "age"}],
        success_message="Welcome!",
    )
    response = await post(
        client, form, email="  Ann@Example.COM ", first_name="Ann", **{"fields.age": "42"}
    )
    assert response.status_code == 200
    assert "Welcome!" in response.text

    contact = await contact_by_email(session, account.workspace_id, "ann@example.com")
    assert contact is not None
    assert (contact.first_name, contact.fields, contact.source, contact.status) == (
        "Ann",
        {"age": 42},
        "form",
        "subscribed",
    )
    assert await memberships(session, contact) == {uuid.UUID(news["id"]): "subscribed"}
    [record] = await make.consents(session, account.workspace_id, contact.id)
    assert (record.action, record.source, str(record.list_id)) == ("subscribe", "form", news["id"])
    assert str(record.ip) == "127.0.0.1"
    assert record.user_agent == UA


async def test_double_opt_in_signup_and_confirmation(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    news = await make_list(client, account, opt_in="double", visibility="public")
    form = await make_form(client, account, news["id"])
    response = await post(client, form, email="bo@example.com")
    assert response.status_code == 200
    assert "confirm" in response.text.lower()

    contact = await contact_by_email(session, account.workspace_id, "bo@example.com")
    assert contact is not None
    assert await memberships(session, contact) == {uuid.UUID(news["id"]): "unconfirmed"}
    # Not mailable by anything until the owner of the address confirms.
    assert contact.status == "unsubscribed"

    # What the delivery layer will do when it sends the confirmation mail.
    token = await subscriptions.issue_confirmation(
        session,
        workspace_id=account.workspace_id,
        list_id=uuid.UUID(news["id"]),
        contact_id=contact.id,
        source="form",
    )
    confirmed = await client.get(f"/confirm/{token}", headers={"User-Agent": UA})
    assert confirmed.status_code == 200
    assert "confirmed" in confirmed.text
    assert news["name"] in confirmed.text
    assert confirmed.headers["referrer-policy"] == "no-referrer"
    assert confirmed.headers["cache-control"] == "no-store"
    contact = await contact_by_email(session, account.workspace_id, "bo@example.com")
    assert contact is not None
    assert contact.status == "subscribed"
    assert await memberships(session, contact) == {uuid.UUID(news["id"]): "subscribed"}
    records = await make.consents(session, account.workspace_id, contact.id)
    assert [(r.action, r.source, r.user_agent) for r in records] == [
        ("subscribe", "form", UA),
        ("confirm", "form", UA),
    ]

    again = await client.get(f"/confirm/{token}")
    assert again.status_code == 409
    assert "used already" in again.text


async def test_expired_and_unknown_confirmation_links(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    news = await make_list(client, account, opt_in="double")
    form = await make_form(client, account, news["id"])
    await post(client, form, email="cy@example.com")
    contact = await contact_by_email(session, account.workspace_id, "cy@example.com")
    assert contact is not None
    token = await subscriptions.issue_confirmation(
        session,
        workspace_id=account.workspace_id,
        list_id=uuid.UUID(news["id"]),
        contact_id=contact.id,
    )
    await session.execute(
        update(SubscriptionConfirmation)
        .where(SubscriptionConfirmation.workspace_id == account.workspace_id)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    expired = await client.get(f"/confirm/{token}")
    assert expired.status_code == 410
    assert "expired" in expired.text
    unknown = await client.get("/confirm/cfm_forged")
    assert unknown.status_code == 404
    assert "not valid" in unknown.text
    assert await memberships(session, contact) == {uuid.UUID(news["id"]): "unconfirmed"}


async def test_a_head_request_does_not_confirm(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    ws = account.workspace_id
    news = await make.mailing_list(session, ws, opt_in="double")
    person = await make.contact(session, ws)
    result = await subscriptions.subscribe(
        session, workspace_id=ws, contact=person, mailing_list=news, source="api"
    )
    response = await client.head(f"/confirm/{result.confirmation_token}")
    assert response.status_code in (404, 405)
    membership = await make.membership(session, ws, news.id, person.id)
    assert membership is not None
    assert membership.status == "unconfirmed"


async def test_the_honeypot_is_accepted_silently(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    news = await make_list(client, account)
    form = await make_form(client, account, news["id"])
    human = await post(client, form, email="real@example.com", url="")
    bot = await post(client, form, email="bot@example.com", url="http://spam.example")
    assert (bot.status_code, bot.text) == (human.status_code, human.text)
    assert await contact_by_email(session, account.workspace_id, "bot@example.com") is None
    assert await contact_by_email(session, account.workspace_id, "real@example.com") is not None


async def test_the_answer_reveals_nothing_about_an_address(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    news = await make_list(client, account)
    form = await make_form(client, account, news["id"])
    ws = account.workspace_id
    await make.suppress(session, ws, "gone@example.com")
    await make.suppress(session, ws, "blocked.example", kind="domain")
    await post(client, form, email="member@example.com")

    answers = [
        await post(client, form, email=email)
        for email in (
            "new@example.com",
            "member@example.com",
            "gone@example.com",
            "anyone@blocked.example",
        )
    ]
    assert {(a.status_code, a.text) for a in answers} == {(answers[0].status_code, answers[0].text)}
    as_json = [
        await client.post(path(form), json={"email": email})
        for email in ("new2@example.com", "member@example.com", "gone@example.com")
    ]
    assert [a.json() for a in as_json] == [as_json[0].json()] * 3
    assert as_json[0].json()["status"] == "accepted"

    # The suppressed addresses were neither subscribed nor even stored.
    assert await contact_by_email(session, ws, "gone@example.com") is None
    assert await contact_by_email(session, ws, "anyone@blocked.example") is None
    member = await contact_by_email(session, ws, "member@example.com")
    assert member is not None
    records = await make.consents(session, ws, member.id)
    assert len(records) == 1  # the repeats changed nothing


async def test_invalid_submissions_are_shown_again_with_errors(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    news = await make_list(client, account)
    await make_field(client, account, "age", "number")
    await make_field(client, account, "terms", "boolean")
    form = await make_form(
        client,
        account,
        news["id"],
        fields=[
            {"key": "first_name", "required": True},
            {"key": "age"},
            {"key": "terms", "required": True},
        ],
    )
    response = await post(
        client, form, email="not-an-address", first_name="", **{"fields.age": "old"}
    )
    assert response.status_code == 422
    assert "Enter a valid email address." in response.text
    assert "This field is required." in response.text
    assert "expected a number" in response.text.lower()
    assert 'value="not-an-address"' in response.text

    as_json = await client.post(path(form), json={"email": "x", "fields": {"age": "old"}})
    assert as_json.status_code == 422
    locations = {d["loc"][0] for d in as_json.json()["error"]["details"]}
    assert locations == {"email", "first_name", "fields.age", "fields.terms"}

    malformed = await client.post(path(form), json={"email": 42, "fields": []})
    assert malformed.status_code == 422


async def test_only_the_forms_own_questions_are_taken(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    news = await make_list(client, account)
    await make_field(client, account, "vip", "boolean")
    form = await make_form(client, account, news["id"], fields=[{"key": "first_name"}])
    await client.post(
        path(form),
        json={"email": "eve@example.com", "last_name": "Sneaky", "fields": {"vip": True}},
    )
    contact = await contact_by_email(session, account.workspace_id, "eve@example.com")
    assert contact is not None
    assert (contact.last_name, contact.fields) == ("", {})


async def test_a_signup_completes_but_never_overwrites_a_contact(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    news = await make_list(client, account)
    await make_field(client, account, "city", "text")
    ws = account.workspace_id
    existing = await make.contact(session, ws, email="flo@example.com")
    existing.first_name = "Florence"
    existing.fields = {"city": "Paris"}
    await session.flush()
    form = await make_form(
        client,
        account,
        news["id"],
        fields=[{"key": "first_name"}, {"key": "last_name"}, {"key": "city"}],
    )
    await post(
        client,
        form,
        email="FLO@example.com",
        first_name="Mallory",
        last_name="Nightingale",
        **{"fields.city": "Berlin"},
    )
    contact = await contact_by_email(session, ws, "flo@example.com")
    assert contact is not None
    assert (contact.first_name, contact.last_name, contact.fields) == (
        "Florence",
        "Nightingale",
        {"city": "Paris"},
    )
    assert await memberships(session, contact) == {uuid.UUID(news["id"]): "subscribed"}


async def test_redirect_after_signup(client: httpx.AsyncClient, account: Account) -> None:
    news = await make_list(client, account)
    form = await make_form(
        client, account, news["id"], redirect_url="https://shop.example.com/thanks"
    )
    page = await client.get(path(form))
    # Browsers apply form-action to the redirect that follows a submission.
    assert "https://shop.example.com" in page.headers["content-security-policy"]
    response = await post(client, form, email="dan@example.com")
    assert response.status_code == 303
    assert response.headers["location"] == "https://shop.example.com/thanks"
    bot = await post(client, form, email="bot@example.com", url="x")
    assert (bot.status_code, bot.headers["location"]) == (303, "https://shop.example.com/thanks")


async def test_odd_requests_are_refused_cleanly(
    client: httpx.AsyncClient, account: Account
) -> None:
    news = await make_list(client, account)
    form = await make_form(client, account, news["id"])
    multipart = await client.post(path(form), files={"email": ("a.txt", b"x@example.com")})
    assert multipart.status_code == 415
    huge = await client.post(path(form), data={"email": "a@example.com", "x": "y" * 70_000})
    assert huge.status_code == 413
    nul = await post(client, form, email="a\x00@example.com")
    assert nul.status_code == 422
    not_json = await client.post(
        path(form), content=b"{", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 422


@pytest.fixture
async def client_from(app: Any) -> AsyncIterator[Any]:
    """Clients that reach the app from a given IP address."""
    clients: list[httpx.AsyncClient] = []

    def make_client(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        new = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(new)
        return new

    yield make_client
    for each in clients:
        await each.aclose()


async def test_submissions_are_rate_limited_per_client_and_per_form(
    app: Any, client: httpx.AsyncClient, account: Account, client_from: Any
) -> None:
    app.dependency_overrides[submission_limits] = lambda: SubmissionLimits(per_client=3, per_form=5)
    news = await make_list(client, account)
    form = await make_form(client, account, news["id"])
    other_form = await make_form(client, account, news["id"])

    visitor = client_from("198.51.100.10")
    answers = [await post(visitor, form, email=f"v{i}@example.com") for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert "try again" in answers[-1].text.lower()
    # The limit is per client across forms, and answers JSON callers in JSON.
    limited = await visitor.post(path(other_form), json={"email": "v5@example.com"})
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"

    # The form's own budget: other clients use up what is left of it.
    others = [
        await post(client_from(f"198.51.100.{20 + i}"), form, email=f"o{i}@example.com")
        for i in range(3)
    ]
    assert [a.status_code for a in others] == [200, 200, 429]
    # ... which leaves the other form open.
    fresh = await post(client_from("198.51.100.99"), other_form, email="w@example.com")
    assert fresh.status_code == 200


async def test_a_form_subscribes_only_into_its_own_workspace(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    stranger = await sign_up(client)
    theirs = await make_list(client, stranger)
    their_person = await make.contact(session, stranger.workspace_id, email="kim@example.com")
    mine = await make_list(client, account)
    form = await make_form(client, account, mine["id"])

    await post(client, form, email="kim@example.com")
    assert await contact_by_email(session, account.workspace_id, "kim@example.com") is not None
    assert await memberships(session, their_person) == {}
    records = await session.execute(
        select(ConsentRecord).where(ConsentRecord.workspace_id == stranger.workspace_id)
    )
    assert records.first() is None
    # A suppression in the other workspace does not count here, nor the other way round.
    await make.suppress(session, stranger.workspace_id, "lee@example.com")
    await post(client, form, email="lee@example.com")
    assert await contact_by_email(session, account.workspace_id, "lee@example.com") is not None
    assert theirs["id"] != mine["id"]
