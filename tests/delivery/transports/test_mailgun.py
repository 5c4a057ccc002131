"""Mailgun transport against the fake messages.mime API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from maily.config import MailgunSettings
from maily.delivery.transports.base import Outcome
from maily.delivery.transports.mailgun import MailgunTransport
from tests.delivery.fake_providers import (
    MAILGUN_DOMAIN,
    MAILGUN_KEY,
    FakeProviders,
    Reaction,
    outgoing,
)


@pytest.fixture
async def make_mailgun(fake: FakeProviders) -> AsyncIterator[Callable[..., MailgunTransport]]:
    made: list[MailgunTransport] = []

    def make(**overrides: Any) -> MailgunTransport:
        values: dict[str, Any] = {
            "base_url": fake.base_url,
            "api_key": SecretStr(MAILGUN_KEY),
            "domain": MAILGUN_DOMAIN,
            "timeout_seconds": 5,
        }
        values.update(overrides)
        transport = MailgunTransport(MailgunSettings(**values))
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.aclose()


async def test_sends_raw_message(
    fake: FakeProviders, make_mailgun: Callable[..., MailgunTransport]
) -> None:
    messages = [
        outgoing(f"reader{i}@example.org", metadata={"delivery_id": f"d-{i}"}) for i in range(3)
    ]
    results = await make_mailgun().send(messages)

    assert [r.outcome for r in results] == [Outcome.sent] * 3
    received = {r.recipient: r for r in fake.messages("mailgun")}
    for message, result in zip(messages, results, strict=True):
        got = received[message.recipient]
        assert got.raw == message.data
        # Mailgun's webhooks name the message without angle brackets.
        assert result.provider_message_id == got.provider_message_id
        assert result.provider_message_id
        assert "<" not in result.provider_message_id
        assert got.payload["to"] == message.recipient
        assert got.payload["v:delivery_id"] == message.metadata["delivery_id"]
        assert got.payload["o:tracking"] == "no"


@pytest.mark.parametrize(
    ("reaction", "outcome", "code"),
    [
        (Reaction.throttle, Outcome.deferred, 429),
        (Reaction.server_error, Outcome.deferred, 500),
        (Reaction.reject, Outcome.failed, 400),
        (Reaction.bad_recipient, Outcome.bounced, 400),
    ],
)
async def test_error_mapping(
    fake: FakeProviders,
    make_mailgun: Callable[..., MailgunTransport],
    reaction: Reaction,
    outcome: Outcome,
    code: int,
) -> None:
    fake.react("trouble@example.org", reaction)
    results = await make_mailgun().send(
        [outgoing("fine@example.org"), outgoing("trouble@example.org")]
    )
    assert results[0].outcome is Outcome.sent
    assert (results[1].outcome, results[1].code) == (outcome, code)
    assert results[1].detail


async def test_bad_key_fails_with_clear_detail(
    fake: FakeProviders, make_mailgun: Callable[..., MailgunTransport]
) -> None:
    [result] = await make_mailgun(api_key=SecretStr("wrong")).send([outgoing("a@example.org")])
    assert result.outcome is Outcome.failed
    assert result.code == 401
    assert "refused the credentials" in result.detail
    assert "Forbidden" in result.detail


async def test_unknown_domain_fails(
    fake: FakeProviders, make_mailgun: Callable[..., MailgunTransport]
) -> None:
    [result] = await make_mailgun(domain="other.example.com").send([outgoing("a@example.org")])
    assert (result.outcome, result.code) == (Outcome.failed, 404)
    assert "Domain not found" in result.detail


async def test_no_answer_after_sending_is_unknown(
    fake: FakeProviders, make_mailgun: Callable[..., MailgunTransport]
) -> None:
    fake.react("slow@example.org", Reaction.hang)
    results = await make_mailgun(timeout_seconds=0.5).send(
        [outgoing("slow@example.org"), outgoing("fast@example.org")]
    )
    assert [r.outcome for r in results] == [Outcome.unknown, Outcome.sent]


async def test_refused_connection_is_deferred(closed_url: str) -> None:
    transport = MailgunTransport(
        MailgunSettings(base_url=closed_url, api_key=SecretStr(MAILGUN_KEY), domain=MAILGUN_DOMAIN)
    )
    try:
        [result] = await transport.send([outgoing("a@example.org")])
    finally:
        await transport.aclose()
    assert result.outcome is Outcome.deferred


async def test_region_picks_the_endpoint() -> None:
    settings = {"api_key": SecretStr(MAILGUN_KEY), "domain": MAILGUN_DOMAIN}
    us = MailgunTransport(MailgunSettings(**settings))
    eu = MailgunTransport(MailgunSettings(**settings, region="eu"))
    try:
        assert us.base_url == "https://api.mailgun.net"
        assert eu.base_url == "https://api.eu.mailgun.net"
    finally:
        await us.aclose()
        await eu.aclose()


def test_needs_key_and_domain() -> None:
    with pytest.raises(ValueError, match="DOMAIN"):
        MailgunTransport(MailgunSettings(api_key=SecretStr(MAILGUN_KEY)))
