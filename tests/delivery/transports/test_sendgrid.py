"""SendGrid transport against the fake v3 Mail Send API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from maily.config import SendGridSettings
from maily.delivery.transports.base import Outcome
from maily.delivery.transports.sendgrid import SendGridTransport
from tests.delivery.fake_providers import SENDGRID_KEY, FakeProviders, Reaction, outgoing


@pytest.fixture
async def make_sendgrid(fake: FakeProviders) -> AsyncIterator[Callable[..., SendGridTransport]]:
    made: list[SendGridTransport] = []

    def make(**overrides: Any) -> SendGridTransport:
        values: dict[str, Any] = {
            "base_url": fake.base_url,
            "api_key": SecretStr(SENDGRID_KEY),
            "timeout_seconds": 5,
        }
        values.update(overrides)
        transport = SendGridTransport(SendGridSettings(**values))
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.aclose()


async def test_sends_each_message(
    fake: FakeProviders, make_sendgrid: Callable[..., SendGridTransport]
) -> None:
    messages = [
        outgoing(f"reader{i}@example.org", metadata={"delivery_id": f"d-{i}"}) for i in range(3)
    ]
    results = await make_sendgrid().send(messages)

    assert [r.outcome for r in results] == [Outcome.sent] * 3
    assert {r.code for r in results} == {202}
    received = {r.recipient: r for r in fake.messages("sendgrid")}
    assert fake.calls_to("sendgrid") == [1, 1, 1]
    for message, result in zip(messages, results, strict=True):
        got = received[message.recipient]
        assert result.provider_message_id == got.provider_message_id
        payload = got.payload
        assert payload["personalizations"] == [
            {"to": [{"email": message.recipient}], "custom_args": dict(message.metadata)}
        ]
        assert payload["from"] == {"email": "news@example.com", "name": "Acme News"}
        assert payload["reply_to"] == {"email": "replies@example.com"}
        assert payload["subject"] == message.subject
        assert payload["content"] == [
            {"type": "text/plain", "value": message.text},
            {"type": "text/html", "value": message.html},
        ]
        assert payload["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "Reply-To" not in payload["headers"]
        assert payload["tracking_settings"]["open_tracking"] == {"enable": False}


@pytest.mark.parametrize(
    ("reaction", "outcome", "code", "words"),
    [
        (Reaction.throttle, Outcome.deferred, 429, "too many requests"),
        (Reaction.server_error, Outcome.deferred, 500, "internal error"),
        (Reaction.reject, Outcome.failed, 400, "content.0.value"),
        (Reaction.bad_recipient, Outcome.bounced, 400, "valid address"),
    ],
)
async def test_error_mapping(
    fake: FakeProviders,
    make_sendgrid: Callable[..., SendGridTransport],
    reaction: Reaction,
    outcome: Outcome,
    code: int,
    words: str,
) -> None:
    fake.react("trouble@example.org", reaction)
    results = await make_sendgrid().send(
        [outgoing("fine@example.org"), outgoing("trouble@example.org")]
    )
    assert results[0].outcome is Outcome.sent
    assert (results[1].outcome, results[1].code) == (outcome, code)
    assert words in results[1].detail


async def test_rate_limit_reset_becomes_retry_after(
    fake: FakeProviders, make_sendgrid: Callable[..., SendGridTransport]
) -> None:
    fake.react("busy@example.org", Reaction.throttle)
    [result] = await make_sendgrid().send([outgoing("busy@example.org")])
    assert result.outcome is Outcome.deferred
    assert result.retry_after is not None
    assert 0 < result.retry_after <= 8


async def test_message_without_content_fails(
    fake: FakeProviders, make_sendgrid: Callable[..., SendGridTransport]
) -> None:
    [result] = await make_sendgrid().send([outgoing("a@example.org", text=None, html=None)])
    assert result.outcome is Outcome.failed


async def test_bad_key_fails_with_clear_detail(
    fake: FakeProviders, make_sendgrid: Callable[..., SendGridTransport]
) -> None:
    [result] = await make_sendgrid(api_key=SecretStr("SG.wrong")).send([outgoing("a@example.org")])
    assert result.outcome is Outcome.failed
    assert result.code == 401
    assert "refused the credentials" in result.detail
    assert "authorization grant is invalid" in result.detail


async def test_no_answer_after_sending_is_unknown(
    fake: FakeProviders, make_sendgrid: Callable[..., SendGridTransport]
) -> None:
    fake.react("slow@example.org", Reaction.hang)
    results = await make_sendgrid(timeout_seconds=0.5).send(
        [outgoing("slow@example.org"), outgoing("fast@example.org")]
    )
    assert [r.outcome for r in results] == [Outcome.unknown, Outcome.sent]


async def test_refused_connection_is_deferred(closed_url: str) -> None:
    transport = SendGridTransport(
        SendGridSettings(base_url=closed_url, api_key=SecretStr(SENDGRID_KEY))
    )
    try:
        [result] = await transport.send([outgoing("a@example.org")])
    finally:
        await transport.aclose()
    assert result.outcome is Outcome.deferred


def test_needs_a_key() -> None:
    with pytest.raises(ValueError, match="API_KEY"):
        SendGridTransport(SendGridSettings())


def test_encoded_sender_name_is_decoded() -> None:
    message = outgoing("a@example.org", sender="=?utf-8?q?Caf=C3=A9_Bar?= <cafe@example.com>")
    payload = SendGridTransport.payload(message)
    assert payload["from"] == {"email": "cafe@example.com", "name": "Café Bar"}


async def test_a_failing_api_opens_the_breaker_and_sends_pause(
    fake: FakeProviders, make_sendgrid: Callable[..., SendGridTransport]
) -> None:
    transport = make_sendgrid(breaker_failure_threshold=2, breaker_cooldown_seconds=60)
    fake.react("down@example.org", Reaction.server_error)
    for _ in range(2):  # two batches the provider took none of
        (result,) = await transport.send([outgoing("down@example.org")])
        assert result.outcome is Outcome.deferred
    calls = len(fake.calls_to("sendgrid"))
    # Open: the next batch is deferred at once, without calling the provider.
    (paused,) = await transport.send([outgoing("fine@example.org")])
    assert paused.outcome is Outcome.deferred
    assert paused.retry_after is not None
    assert paused.retry_after > 0
    assert len(fake.calls_to("sendgrid")) == calls


async def test_one_refused_address_does_not_count_against_the_provider(
    fake: FakeProviders, make_sendgrid: Callable[..., SendGridTransport]
) -> None:
    transport = make_sendgrid(breaker_failure_threshold=1)
    fake.react("down@example.org", Reaction.server_error)
    results = await transport.send([outgoing("down@example.org"), outgoing("fine@example.org")])
    assert [r.outcome for r in results] == [Outcome.deferred, Outcome.sent]
    (after,) = await transport.send([outgoing("fine@example.org")])
    assert after.outcome is Outcome.sent
