"""Amazon SES transport against the fake SES v2 API, which checks SigV4 with botocore."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from maily.config import SESSettings
from maily.delivery.transports.base import Outcome, Transport
from maily.delivery.transports.ses import SESTransport
from tests.delivery.fake_providers import (
    SES_KEY_ID,
    SES_REGION,
    SES_SECRET,
    FakeProviders,
    Reaction,
    outgoing,
)


def ses_settings(base_url: str | None, **overrides: Any) -> SESSettings:
    values: dict[str, Any] = {
        "base_url": base_url,
        "region": SES_REGION,
        "access_key_id": SES_KEY_ID,
        "secret_access_key": SecretStr(SES_SECRET),
        "timeout_seconds": 5,
    }
    values.update(overrides)
    return SESSettings(**values)


@pytest.fixture
async def make_ses(fake: FakeProviders) -> AsyncIterator[Callable[..., SESTransport]]:
    made: list[SESTransport] = []

    def make(**overrides: Any) -> SESTransport:
        transport = SESTransport(ses_settings(fake.base_url, **overrides))
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.aclose()


async def test_sends_raw_message_signed(
    fake: FakeProviders, make_ses: Callable[..., SESTransport]
) -> None:
    transport = make_ses(configuration_set="marketing")
    assert isinstance(transport, Transport)
    messages = [
        outgoing(f"reader{i}@example.org", metadata={"delivery_id": f"d-{i}", "campaign": "c 1"})
        for i in range(3)
    ]
    results = await transport.send(messages)

    assert [r.outcome for r in results] == [Outcome.sent] * 3
    assert all(r.code == 200 and r.provider_message_id for r in results)
    assert len({r.provider_message_id for r in results}) == 3
    received = {r.recipient: r for r in fake.messages("ses")}
    for message, result in zip(messages, results, strict=True):
        got = received[message.recipient]
        # SES gets the message byte for byte (DKIM signatures must survive).
        assert got.raw == message.data
        assert got.provider_message_id == result.provider_message_id
        assert got.payload["Destination"] == {"ToAddresses": [message.recipient]}
        assert got.payload["ConfigurationSetName"] == "marketing"
        assert {"Name": "campaign", "Value": "c_1"} in got.payload["EmailTags"]
        assert "FeedbackForwardingEmailAddress" not in got.payload


async def test_feedback_forwarding_uses_the_return_path(
    fake: FakeProviders, make_ses: Callable[..., SESTransport]
) -> None:
    transport = make_ses(forward_feedback_to_return_path=True)
    message = outgoing("reader@example.org", return_path="b+x1@bounces.example.com")
    [result] = await transport.send([message])
    assert result.outcome is Outcome.sent
    [got] = fake.messages("ses")
    assert got.payload["FeedbackForwardingEmailAddress"] == "b+x1@bounces.example.com"


@pytest.mark.parametrize(
    ("reaction", "outcome", "code", "words"),
    [
        (Reaction.throttle, Outcome.deferred, 429, "TooManyRequestsException"),
        (Reaction.server_error, Outcome.deferred, 500, "InternalFailure"),
        (Reaction.paused, Outcome.deferred, 400, "SendingPausedException"),
        (Reaction.reject, Outcome.failed, 400, "MessageRejected"),
        (Reaction.bad_recipient, Outcome.bounced, 400, "Illegal address"),
    ],
)
async def test_error_mapping(
    fake: FakeProviders,
    make_ses: Callable[..., SESTransport],
    reaction: Reaction,
    outcome: Outcome,
    code: int,
    words: str,
) -> None:
    fake.react("trouble@example.org", reaction)
    results = await make_ses().send([outgoing("fine@example.org"), outgoing("trouble@example.org")])
    assert results[0].outcome is Outcome.sent
    assert results[1].outcome is outcome
    assert results[1].code == code
    assert words in results[1].detail
    assert [r.recipient for r in fake.messages("ses")] == ["fine@example.org"]


async def test_wrong_secret_fails_with_the_signature_error(
    fake: FakeProviders, make_ses: Callable[..., SESTransport]
) -> None:
    transport = make_ses(secret_access_key=SecretStr("not-the-secret"))
    [result] = await transport.send([outgoing("reader@example.org")])
    assert result.outcome is Outcome.failed
    assert result.code == 403
    assert "refused the credentials" in result.detail
    assert "SignatureDoesNotMatch" in result.detail
    assert fake.messages("ses") == []


async def test_unknown_key_id_fails(
    fake: FakeProviders, make_ses: Callable[..., SESTransport]
) -> None:
    [result] = await make_ses(access_key_id="AKIAUNKNOWN").send([outgoing("r@example.org")])
    assert result.outcome is Outcome.failed
    assert "UnrecognizedClientException" in result.detail


async def test_wrong_region_scope_fails(
    fake: FakeProviders, make_ses: Callable[..., SESTransport]
) -> None:
    [result] = await make_ses(region="us-west-2").send([outgoing("r@example.org")])
    assert result.outcome is Outcome.failed
    assert "SignatureDoesNotMatch" in result.detail


async def test_credentials_from_the_environment(
    fake: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SES_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SES_SECRET)
    transport = SESTransport(SESSettings(base_url=fake.base_url, region=SES_REGION))
    try:
        [result] = await transport.send([outgoing("reader@example.org")])
    finally:
        await transport.aclose()
    assert result.outcome is Outcome.sent


async def test_no_answer_after_sending_is_unknown(
    fake: FakeProviders, make_ses: Callable[..., SESTransport]
) -> None:
    fake.react("slow@example.org", Reaction.hang)
    transport = make_ses(timeout_seconds=0.5)
    results = await transport.send([outgoing("slow@example.org"), outgoing("fast@example.org")])
    assert results[0].outcome is Outcome.unknown
    assert "ReadTimeout" in results[0].detail
    assert results[1].outcome is Outcome.sent


async def test_refused_connection_is_deferred(closed_url: str) -> None:
    transport = SESTransport(ses_settings(closed_url))
    try:
        [result] = await transport.send([outgoing("reader@example.org")])
    finally:
        await transport.aclose()
    assert result.outcome is Outcome.deferred
    assert "could not connect" in result.detail


async def test_concurrency_is_bounded(
    fake: FakeProviders, make_ses: Callable[..., SESTransport]
) -> None:
    transport = make_ses(max_concurrency=2)
    for i in range(3):
        fake.react(f"held{i}@example.org", Reaction.hang)
    sending = asyncio.create_task(
        transport.send([outgoing(f"held{i}@example.org") for i in range(3)])
    )
    await asyncio.to_thread(fake.wait_hung, 2)
    fake.release_hung()
    # The third request could only start once a slot was free.
    await asyncio.to_thread(fake.wait_hung, 3)
    fake.release_hung()
    results = await sending
    assert [r.outcome for r in results] == [Outcome.sent] * 3
    assert fake.peak_hanging == 2


async def test_close_waits_for_sends_in_flight(
    fake: FakeProviders, make_ses: Callable[..., SESTransport]
) -> None:
    transport = make_ses()
    fake.react("held@example.org", Reaction.hang)
    sending = asyncio.create_task(transport.send([outgoing("held@example.org")]))
    await asyncio.to_thread(fake.wait_hung, 1)
    closing = asyncio.create_task(transport.aclose())
    done, _ = await asyncio.wait({closing}, timeout=0.2)
    assert not done, "aclose() returned while a send was in flight"
    fake.release_hung()
    [result] = await sending
    await closing
    assert result.outcome is Outcome.sent
    [late] = await transport.send([outgoing("late@example.org")])
    assert late.outcome is Outcome.deferred
    assert "closed" in late.detail


async def test_request_is_ses_v2_send_email() -> None:
    transport = SESTransport(ses_settings("http://127.0.0.1:9"))
    default = SESTransport(ses_settings(None, region="eu-central-1"))
    try:
        message = outgoing("reader@example.org")
        payload = transport.payload(message)
        assert base64.b64decode(payload["Content"]["Raw"]["Data"]) == message.data
        assert json.loads(json.dumps(payload)) == payload
        assert transport.base_url == "http://127.0.0.1:9"
        assert default.base_url == "https://email.eu-central-1.amazonaws.com"
    finally:
        await transport.aclose()
        await default.aclose()
