"""Consent changes: single and double opt-in, confirmation, unsubscribes, the consent trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from maily.contacts import subscriptions
from maily.kit.db import AsyncSession
from maily.kit.errors import NotFound
from maily.models import SubscriptionConfirmation
from tests.contacts.subscriptions import factories as make

UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"


async def test_single_opt_in_subscribes_and_records_consent(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id)
    person = await make.contact(session, ws.id)

    result = await subscriptions.subscribe(
        session,
        workspace_id=ws.id,
        contact=person,
        mailing_list=news,
        source="form",
        ip="203.0.113.7",
        user_agent=UA,
    )

    assert (result.changed, result.membership.status, result.confirmation_token) == (
        True,
        "subscribed",
        None,
    )
    [record] = await make.consents(session, ws.id, person.id)
    assert (record.action, record.source, record.list_id, record.channel) == (
        "subscribe",
        "form",
        news.id,
        None,
    )
    assert str(record.ip) == "203.0.113.7"
    assert record.user_agent == UA
    assert datetime.now(UTC) - record.occurred_at < timedelta(minutes=5)


async def test_subscribing_a_member_again_changes_nothing(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id)
    person = await make.contact(session, ws.id)
    for source in ("api", "form", "admin"):
        await subscriptions.subscribe(
            session, workspace_id=ws.id, contact=person, mailing_list=news, source=source
        )
    again = await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=news, source="form"
    )
    assert (again.changed, again.membership.status) == (False, "subscribed")
    assert len(await make.consents(session, ws.id, person.id)) == 1


async def test_a_subscribed_member_is_not_sent_back_to_unconfirmed(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id, opt_in="double")
    person = await make.contact(session, ws.id)
    await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=news, source="admin"
    )
    again = await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=news, source="form"
    )
    assert (again.changed, again.membership.status, again.confirmation_token) == (
        False,
        "subscribed",
        None,
    )


@pytest.mark.parametrize("source", ["form", "api"])
async def test_double_opt_in_waits_for_confirmation(session: AsyncSession, source: str) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id, opt_in="double")
    person = await make.contact(session, ws.id)

    result = await subscriptions.subscribe(
        session,
        workspace_id=ws.id,
        contact=person,
        mailing_list=news,
        source=source,  # type: ignore[arg-type]
        ip="198.51.100.1",
    )
    assert result.membership.status == "unconfirmed"
    assert result.awaiting_confirmation
    assert result.confirmation_token
    assert result.confirmation_token.startswith("cfm_")
    # Only a digest is stored.
    stored = (await session.execute(select(SubscriptionConfirmation))).scalars().all()
    assert result.confirmation_token.encode() not in {s.token_hash for s in stored}

    confirmed = await subscriptions.confirm(
        session, token=result.confirmation_token, ip="2001:db8::1", user_agent=UA
    )
    assert confirmed.status == "subscribed"
    subscribe, confirm = await make.consents(session, ws.id, person.id)
    assert (subscribe.action, str(subscribe.ip)) == ("subscribe", "198.51.100.1")
    assert (confirm.action, confirm.source, confirm.list_id) == ("confirm", source, news.id)
    assert (str(confirm.ip), confirm.user_agent) == ("2001:db8::1", UA)


async def test_a_used_token_is_refused(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id, opt_in="double")
    person = await make.contact(session, ws.id)
    first = await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=news, source="form"
    )
    # The confirmation mail got lost; the person asks again and gets a second token.
    second = await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=news, source="form"
    )
    assert second.changed
    assert second.confirmation_token != first.confirmation_token
    assert first.confirmation_token
    assert second.confirmation_token

    await subscriptions.confirm(session, token=second.confirmation_token)
    with pytest.raises(subscriptions.ConfirmationUsed):
        await subscriptions.confirm(session, token=second.confirmation_token)
    with pytest.raises(subscriptions.ConfirmationUsed):
        await subscriptions.confirm(session, token=first.confirmation_token)
    actions = [r.action for r in await make.consents(session, ws.id, person.id)]
    assert actions == ["subscribe", "subscribe", "confirm"]


async def test_an_expired_or_unknown_token_is_refused(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id, opt_in="double")
    person = await make.contact(session, ws.id)
    result = await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=news, source="form"
    )
    assert result.confirmation_token
    await session.execute(
        update(SubscriptionConfirmation).values(expires_at=datetime.now(UTC) - timedelta(days=1))
    )

    with pytest.raises(subscriptions.ConfirmationExpired) as expired:
        await subscriptions.confirm(session, token=result.confirmation_token)
    assert expired.value.status_code == 410
    with pytest.raises(subscriptions.ConfirmationInvalid) as unknown:
        await subscriptions.confirm(session, token="cfm_not-a-token")
    assert unknown.value.status_code == 404
    membership = await make.membership(session, ws.id, news.id, person.id)
    assert membership is not None
    assert membership.status == "unconfirmed"


async def test_a_new_link_can_be_issued_for_a_pending_subscription(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id, opt_in="double")
    person = await make.contact(session, ws.id)
    await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=news, source="api"
    )
    url = await subscriptions.pending_confirmation_url(
        session,
        workspace_id=ws.id,
        list_id=news.id,
        contact_id=person.id,
        base_url="https://mail.example.com/",
    )
    assert url.startswith("https://mail.example.com/confirm/cfm_")
    membership = await subscriptions.confirm(session, token=url.rsplit("/", 1)[1])
    assert membership.status == "subscribed"
    with pytest.raises(NotFound):
        await subscriptions.issue_confirmation(
            session, workspace_id=ws.id, list_id=news.id, contact_id=person.id
        )


@pytest.mark.parametrize("source", ["admin", "import"])
async def test_the_workspace_vouches_for_consent_on_a_double_opt_in_list(
    session: AsyncSession, source: str
) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id, opt_in="double")
    person = await make.contact(session, ws.id)
    result = await subscriptions.subscribe(
        session,
        workspace_id=ws.id,
        contact=person,
        mailing_list=news,
        source=source,  # type: ignore[arg-type]
    )
    assert (result.membership.status, result.confirmation_token) == ("subscribed", None)
    [record] = await make.consents(session, ws.id, person.id)
    assert record.source == source


async def test_the_workspace_cannot_override_an_unsubscribe(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id)
    offers = await make.mailing_list(session, ws.id, name="Offers")
    person = await make.contact(session, ws.id)
    await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=news, source="form"
    )
    await subscriptions.unsubscribe(
        session, workspace_id=ws.id, contact=person, list_id=news.id, channel="link"
    )
    with pytest.raises(subscriptions.ConsentWithdrawn):
        await subscriptions.subscribe(
            session, workspace_id=ws.id, contact=person, mailing_list=news, source="import"
        )
    # Other lists stay open to the workspace until the person leaves everything.
    await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=offers, source="admin"
    )
    await subscriptions.unsubscribe(
        session, workspace_id=ws.id, contact=person, list_id=None, channel="preference_center"
    )
    with pytest.raises(subscriptions.ConsentWithdrawn) as refused:
        await subscriptions.subscribe(
            session, workspace_id=ws.id, contact=person, mailing_list=offers, source="admin"
        )
    assert refused.value.status_code == 409

    # The person themselves may come back.
    back = await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=news, source="form"
    )
    assert back.membership.status == "subscribed"
    assert person.status == "subscribed"
    # ... to that list only: leaving everything ended the others for good.
    other = await make.membership(session, ws.id, offers.id, person.id)
    assert other is not None
    assert other.status == "unsubscribed"


async def test_confirming_lifts_an_earlier_unsubscribe_from_everything(
    session: AsyncSession,
) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id, opt_in="double")
    person = await make.contact(session, ws.id, status="unsubscribed")
    result = await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=news, source="form"
    )
    assert person.status == "unsubscribed"  # not before the person confirms
    assert result.confirmation_token
    await subscriptions.confirm(session, token=result.confirmation_token)
    assert person.status == "subscribed"


@pytest.mark.parametrize(
    ("entry", "kind"), [("gone@example.com", "address"), ("example.com", "domain")]
)
async def test_a_suppressed_address_is_never_subscribed(
    session: AsyncSession, entry: str, kind: str
) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id)
    person = await make.contact(session, ws.id, email="gone@example.com")
    await make.suppress(session, ws.id, entry, kind)

    assert await subscriptions.is_address_suppressed(session, ws.id, "gone@example.com")
    with pytest.raises(subscriptions.AddressSuppressed) as refused:
        await subscriptions.subscribe(
            session, workspace_id=ws.id, contact=person, mailing_list=news, source="admin"
        )
    assert refused.value.code == "address_suppressed"
    assert await make.membership(session, ws.id, news.id, person.id) is None
    assert await make.consents(session, ws.id, person.id) == []


async def test_an_address_suppressed_before_confirmation_stays_out(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id, opt_in="double")
    person = await make.contact(session, ws.id)
    result = await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=news, source="form"
    )
    await make.suppress(session, ws.id, person.email)
    assert result.confirmation_token
    with pytest.raises(subscriptions.AddressSuppressed):
        await subscriptions.confirm(session, token=result.confirmation_token)


async def test_unsubscribe_from_one_list(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id)
    offers = await make.mailing_list(session, ws.id, name="Offers")
    person = await make.contact(session, ws.id)
    for each in (news, offers):
        await subscriptions.subscribe(
            session, workspace_id=ws.id, contact=person, mailing_list=each, source="form"
        )

    changed = await subscriptions.unsubscribe(
        session,
        workspace_id=ws.id,
        contact=person,
        list_id=news.id,
        channel="one_click",
        reason="too many emails",
        ip="192.0.2.4",
        user_agent=UA,
    )
    assert changed
    left = await make.membership(session, ws.id, news.id, person.id)
    kept = await make.membership(session, ws.id, offers.id, person.id)
    assert (left and left.status, kept and kept.status) == ("unsubscribed", "subscribed")
    assert person.status == "subscribed"
    record = (await make.consents(session, ws.id, person.id))[-1]
    assert (record.action, record.list_id, record.channel, record.reason, record.source) == (
        "unsubscribe",
        news.id,
        "one_click",
        "too many emails",
        "email",
    )
    assert (str(record.ip), record.user_agent) == ("192.0.2.4", UA)

    # A second click records nothing new.
    again = await subscriptions.unsubscribe(
        session, workspace_id=ws.id, contact=person, list_id=news.id, channel="link"
    )
    assert not again
    assert len(await make.consents(session, ws.id, person.id)) == 3


async def test_unsubscribe_from_a_list_one_is_not_on_does_nothing(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id)
    person = await make.contact(session, ws.id)
    assert not await subscriptions.unsubscribe(
        session, workspace_id=ws.id, contact=person, list_id=news.id, channel="api"
    )
    assert await make.membership(session, ws.id, news.id, person.id) is None
    assert await make.consents(session, ws.id, person.id) == []


async def test_unsubscribe_from_everything(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id)
    offers = await make.mailing_list(session, ws.id, name="Offers", opt_in="double")
    person = await make.contact(session, ws.id)
    await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=news, source="form"
    )
    pending = await subscriptions.subscribe(
        session, workspace_id=ws.id, contact=person, mailing_list=offers, source="form"
    )

    assert await subscriptions.unsubscribe(
        session,
        workspace_id=ws.id,
        contact=person,
        list_id=None,
        channel="admin",
        reason="asked by phone",
    )
    assert person.status == "unsubscribed"
    for each in (news, offers):
        membership = await make.membership(session, ws.id, each.id, person.id)
        assert membership is not None
        assert membership.status == "unsubscribed"
    record = (await make.consents(session, ws.id, person.id))[-1]
    assert (record.action, record.list_id, record.channel, record.reason, record.source) == (
        "unsubscribe",
        None,
        "admin",
        "asked by phone",
        "admin",
    )
    # The pending confirmation link no longer works.
    assert pending.confirmation_token
    with pytest.raises(subscriptions.ConfirmationInvalid):
        await subscriptions.confirm(session, token=pending.confirmation_token)
    assert not await subscriptions.unsubscribe(
        session, workspace_id=ws.id, contact=person, list_id=None, channel="link"
    )


async def test_a_complaint_keeps_the_complained_status(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    person = await make.contact(session, ws.id, status="complained")
    assert not await subscriptions.unsubscribe(
        session, workspace_id=ws.id, contact=person, list_id=None, channel="complaint"
    )
    assert person.status == "complained"


async def test_untrusted_client_details_are_stored_safely(session: AsyncSession) -> None:
    ws = await make.workspace(session)
    news = await make.mailing_list(session, ws.id)
    person = await make.contact(session, ws.id)
    await subscriptions.subscribe(
        session,
        workspace_id=ws.id,
        contact=person,
        mailing_list=news,
        source="form",
        ip="unknown",
        user_agent="x\x00y" + "z" * 1000,
    )
    [record] = await make.consents(session, ws.id, person.id)
    assert record.ip is None
    assert record.user_agent is not None
    assert record.user_agent.startswith("xyz")
    assert len(record.user_agent) == 500


async def test_objects_of_another_workspace_are_refused(session: AsyncSession) -> None:
    mine, theirs = await make.workspace(session), await make.workspace(session)
    news = await make.mailing_list(session, theirs.id)
    person = await make.contact(session, mine.id)
    with pytest.raises(ValueError, match="workspace"):
        await subscriptions.subscribe(
            session, workspace_id=mine.id, contact=person, mailing_list=news, source="api"
        )
    with pytest.raises(ValueError, match="workspace"):
        await subscriptions.unsubscribe(
            session, workspace_id=theirs.id, contact=person, list_id=None, channel="api"
        )
