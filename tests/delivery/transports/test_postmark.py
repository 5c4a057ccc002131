"""Postmark transport against the fake Postmark batch API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
from pydantic import SecretStr

from maily.config import PostmarkSettings
from maily.delivery.transports.base import Outcome
from maily.delivery.transports.postmark import PostmarkTransport, batches
from tests.delivery.fake_providers import POSTMARK_TOKEN, FakeProviders, Reaction, outgoing


@pytest.fixture
async def make_postmark(fake: FakeProviders) -> AsyncIterator[Callable[..., PostmarkTransport]]:
    made: list[PostmarkTransport] = []

    def make(**overrides: Any) -> PostmarkTransport:
        values: dict[str, Any] = {
            "base_url": fake.base_url,
            "server_token": SecretStr(POSTMARK_TOKEN),
            "timeout_seconds": 5,
        }
        values.update(overrides)
        transport = PostmarkTransport(PostmarkSettings(**values))
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.aclose()


async def test_sends_a_batch_in_one_call(
    fake: FakeProviders, make_postmark: Callable[..., PostmarkTransport]
) -> None:
    messages = [
        outgoing(f"reader{i}@example.org", metadata={"delivery_id": f"d-{i}"}) for i in range(3)
    ]
    results = await make_postmark(message_stream="newsletters").send(messages)

    assert [r.outcome for r in results] == [Outcome.sent] * 3
    assert fake.calls_to("postmark") == [3]
    received = {r.recipient: r for r in fake.messages("postmark")}
    for message, result in zip(messages, results, strict=True):
        got = received[message.recipient]
        assert result.provider_message_id == got.provider_message_id
        payload = got.payload
        assert payload["From"] == "Acme News <news@example.com>"
        assert payload["Subject"] == message.subject
        assert payload["HtmlBody"] == message.html
        assert payload["TextBody"] == message.text
        assert payload["MessageStream"] == "newsletters"
        assert payload["ReplyTo"] == "replies@example.com"
        assert payload["Metadata"] == dict(message.metadata)
        assert payload["TrackOpens"] is False
        headers = {h["Name"]: h["Value"] for h in payload["Headers"]}
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "Message-ID" in headers
        assert "Reply-To" not in headers


async def test_more_than_500_messages_take_two_calls(
    fake: FakeProviders, make_postmark: Callable[..., PostmarkTransport]
) -> None:
    base = outgoing("r@example.org", text="hi", html=None)
    messages = [
        replace(base, recipient=f"r{i}@example.org", to_header=f"r{i}@example.org")
        for i in range(501)
    ]
    results = await make_postmark().send(messages)
    assert [r.outcome for r in results] == [Outcome.sent] * 501
    assert sorted(fake.calls_to("postmark")) == [1, 500]
    assert {r.recipient for r in fake.messages("postmark")} == {m.recipient for m in messages}


def test_batches_split_by_size() -> None:
    big = replace(outgoing("big@example.org"), data=b"x" * 30_000_000)
    small = outgoing("small@example.org")
    assert [len(b) for b in batches([big, small, big])] == [2, 1]


async def test_per_message_verdicts(
    fake: FakeProviders, make_postmark: Callable[..., PostmarkTransport]
) -> None:
    fake.react("gone@example.org", Reaction.inactive)
    fake.react("typo@example", Reaction.bad_recipient)
    fake.react("fromless@example.org", Reaction.reject)
    results = await make_postmark().send(
        [
            outgoing("fine@example.org"),
            outgoing("gone@example.org"),
            outgoing("typo@example"),
            outgoing("fromless@example.org"),
        ]
    )
    assert [r.outcome for r in results] == [
        Outcome.sent,
        Outcome.bounced,
        Outcome.bounced,
        Outcome.failed,
    ]
    assert "406" in results[1].detail
    assert "inactive" in results[1].detail
    assert "300" in results[2].detail
    # Error 300 about the From address says nothing about the recipient.
    assert "'From'" in results[3].detail
    assert [r.recipient for r in fake.messages("postmark")] == ["fine@example.org"]


@pytest.mark.parametrize(
    ("reaction", "code"), [(Reaction.throttle, 429), (Reaction.server_error, 500)]
)
async def test_whole_batch_errors_defer_every_message(
    fake: FakeProviders,
    make_postmark: Callable[..., PostmarkTransport],
    reaction: Reaction,
    code: int,
) -> None:
    fake.react("trouble@example.org", reaction)
    results = await make_postmark().send(
        [outgoing("fine@example.org"), outgoing("trouble@example.org")]
    )
    assert [r.outcome for r in results] == [Outcome.deferred] * 2
    assert {r.code for r in results} == {code}


async def test_bad_token_fails_with_clear_detail(
    fake: FakeProviders, make_postmark: Callable[..., PostmarkTransport]
) -> None:
    results = await make_postmark(server_token=SecretStr("wrong")).send(
        [outgoing("a@example.org"), outgoing("b@example.org")]
    )
    assert [r.outcome for r in results] == [Outcome.failed] * 2
    assert results[0].code == 401
    assert "refused the credentials" in results[0].detail
    assert "Server token" in results[0].detail
    assert fake.messages("postmark") == []


async def test_no_answer_after_sending_is_unknown_for_the_batch(
    fake: FakeProviders, make_postmark: Callable[..., PostmarkTransport]
) -> None:
    fake.react("slow@example.org", Reaction.hang)
    results = await make_postmark(timeout_seconds=0.5).send(
        [outgoing("fast@example.org"), outgoing("slow@example.org")]
    )
    assert [r.outcome for r in results] == [Outcome.unknown] * 2


async def test_refused_connection_is_deferred(closed_url: str) -> None:
    transport = PostmarkTransport(
        PostmarkSettings(base_url=closed_url, server_token=SecretStr(POSTMARK_TOKEN))
    )
    try:
        results = await transport.send([outgoing("a@example.org")])
    finally:
        await transport.aclose()
    assert [r.outcome for r in results] == [Outcome.deferred]


def test_needs_a_token() -> None:
    with pytest.raises(ValueError, match="SERVER_TOKEN"):
        PostmarkTransport(PostmarkSettings())


async def test_empty_send_makes_no_call(
    fake: FakeProviders, make_postmark: Callable[..., PostmarkTransport]
) -> None:
    assert await make_postmark().send([]) == []
    assert fake.calls_to("postmark") == []
