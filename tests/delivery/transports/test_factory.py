"""The settings choose the transport; nothing configured means the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.config import Settings
from maily.delivery.transports.base import Outcome, Transport
from maily.delivery.transports.factory import transport_from_settings
from maily.delivery.transports.mailgun import MailgunTransport
from maily.delivery.transports.outbox import OutboxTransport
from maily.delivery.transports.postmark import PostmarkTransport
from maily.delivery.transports.sendgrid import SendGridTransport
from maily.delivery.transports.ses import SESTransport
from tests.conftest import make_settings
from tests.delivery.fake_providers import (
    MAILGUN_DOMAIN,
    MAILGUN_KEY,
    POSTMARK_TOKEN,
    SENDGRID_KEY,
    SES_KEY_ID,
    SES_SECRET,
    FakeProviders,
    outgoing,
)


def configured(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def built() -> AsyncIterator[list[Transport]]:
    transports: list[Transport] = []
    yield transports
    for transport in transports:
        await transport.aclose()


def test_outbox_is_the_default() -> None:
    assert configured().transport == "outbox"


async def test_default_outbox_on_the_given_engine(
    engine: AsyncEngine, built: list[Transport]
) -> None:
    transport = transport_from_settings(configured(), engine=engine)
    built.append(transport)
    assert isinstance(transport, OutboxTransport)
    assert transport.name == "outbox"


async def test_outbox_opens_its_own_pool_on_the_database(
    database_url: str, redis_url: str, built: list[Transport]
) -> None:
    transport = transport_from_settings(make_settings(database_url, redis_url))
    built.append(transport)
    assert isinstance(transport, OutboxTransport)
    # A workspace id that does not exist: the insert fails inside the database,
    # which proves the transport reached it, and the messages are deferred.
    [result] = await transport.send([outgoing("a@example.org")])
    assert result.outcome is Outcome.deferred
    assert "ForeignKeyViolation" in result.detail or "foreign key" in result.detail


def test_outbox_without_a_database_is_refused() -> None:
    with pytest.raises(ValueError, match="MAILY_DATABASE_URL"):
        transport_from_settings(configured())


async def test_each_provider_is_built_from_its_group(
    fake: FakeProviders, built: list[Transport]
) -> None:
    common = {"base_url": fake.base_url}
    cases: list[tuple[dict[str, Any], type]] = [
        (
            {
                "transport": "ses",
                "ses": {
                    **common,
                    "region": "eu-west-1",
                    "access_key_id": SES_KEY_ID,
                    "secret_access_key": SES_SECRET,
                },
            },
            SESTransport,
        ),
        (
            {"transport": "postmark", "postmark": {**common, "server_token": POSTMARK_TOKEN}},
            PostmarkTransport,
        ),
        (
            {"transport": "sendgrid", "sendgrid": {**common, "api_key": SENDGRID_KEY}},
            SendGridTransport,
        ),
        (
            {
                "transport": "mailgun",
                "mailgun": {**common, "api_key": MAILGUN_KEY, "domain": MAILGUN_DOMAIN},
            },
            MailgunTransport,
        ),
    ]
    for values, kind in cases:
        transport = transport_from_settings(configured(**values))
        built.append(transport)
        assert isinstance(transport, kind)
        assert transport.name == values["transport"]
        [result] = await transport.send([outgoing(f"{transport.name}@example.org")])
        assert result.outcome is Outcome.sent, (transport.name, result.detail)
    assert {r.provider for r in fake.received} == {"ses", "postmark", "sendgrid", "mailgun"}


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILY_TRANSPORT", "postmark")
    monkeypatch.setenv("MAILY_POSTMARK__SERVER_TOKEN", "token-from-env")
    monkeypatch.setenv("MAILY_POSTMARK__MAX_CONCURRENCY", "4")
    settings = configured()
    assert settings.transport == "postmark"
    assert settings.postmark.server_token is not None
    assert settings.postmark.server_token.get_secret_value() == "token-from-env"
    assert settings.postmark.max_concurrency == 4
    assert "token-from-env" not in repr(settings)


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"transport": "postmark"}, "MAILY_POSTMARK__SERVER_TOKEN"),
        ({"transport": "sendgrid"}, "MAILY_SENDGRID__API_KEY"),
        ({"transport": "mailgun", "mailgun": {"api_key": "k"}}, "MAILY_MAILGUN__DOMAIN"),
    ],
)
def test_chosen_provider_without_credentials_is_refused(
    values: dict[str, Any], missing: str
) -> None:
    with pytest.raises(ValidationError, match=missing):
        configured(**values)


def test_unknown_transport_is_refused() -> None:
    with pytest.raises(ValidationError):
        configured(transport="carrier-pigeon")


def test_smtp_is_built_from_its_settings() -> None:
    transport = transport_from_settings(
        configured(transport="smtp", smtp={"host": "relay.example.com", "security": "none"})
    )
    assert transport.name == "smtp"


def test_smtp_without_a_host_is_refused() -> None:
    with pytest.raises(ValueError, match="MAILY_SMTP__HOST"):
        transport_from_settings(configured(transport="smtp"))
