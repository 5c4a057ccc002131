"""The real composer: the CAN-SPAM content check, and what makes a campaign unsendable."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from maily.api.state import AppState
from maily.delivery.composer import CampaignContent, CampaignUnsendable, ContactRow, DeliveryRow
from maily.delivery.composing import CampaignComposer
from maily.kit.db import transaction
from maily.models import TemplateVersion
from tests.conftest import make_settings
from tests.delivery.pipeline import POSTAL_ADDRESS, TEMPLATE, SendingWorld


def content(world: SendingWorld, **values: object) -> CampaignContent:
    fields: dict[str, object] = {
        "workspace_id": world.workspace_id,
        "campaign_id": uuid.uuid4(),
        "name": "Spring",
        "subject": "Hello {{ contact.first_name }}",
        "preheader": "",
        "template_id": world.template_id,
        "sender_id": world.sender_id,
        "postal_address": POSTAL_ADDRESS,
    }
    fields.update(values)
    return CampaignContent(**fields)  # type: ignore[arg-type]


async def new_version(world: SendingWorld, source: str) -> None:
    async with transaction(world.sessionmaker) as session:
        session.add(
            TemplateVersion(
                workspace_id=world.workspace_id,
                template_id=world.template_id,
                version=2,
                source=source,
            )
        )
        await session.execute(
            text("UPDATE templates SET current_version = 2 WHERE workspace_id = :w AND id = :t"),
            {"w": world.workspace_id, "t": world.template_id},
        )


async def test_complete_content_passes_the_check(
    sending_world: SendingWorld, app_state: AppState
) -> None:
    composer = CampaignComposer(app_state.settings, sending_world.sessionmaker)
    assert await composer.check(content(sending_world)) == []


@pytest.mark.parametrize(
    ("source", "missing"),
    [
        (
            TEMPLATE.replace('<a href="{{ unsubscribe_url }}">Unsubscribe</a>', ""),
            ["unsubscribe link"],
        ),
        # A link merely saying "unsubscribe" is not one: it must lead to the real URL.
        (
            TEMPLATE.replace("{{ unsubscribe_url }}", "https://example.com/bye"),
            ["unsubscribe link"],
        ),
        (TEMPLATE.replace("{{ workspace.postal_address }}", ""), ["postal address"]),
    ],
)
async def test_the_check_names_what_is_missing(
    sending_world: SendingWorld, app_state: AppState, source: str, missing: list[str]
) -> None:
    await new_version(sending_world, source)
    composer = CampaignComposer(app_state.settings, sending_world.sessionmaker)
    assert await composer.check(content(sending_world)) == missing


async def test_an_empty_postal_address_is_missing(
    sending_world: SendingWorld, app_state: AppState
) -> None:
    composer = CampaignComposer(app_state.settings, sending_world.sessionmaker)
    assert await composer.check(content(sending_world, postal_address="")) == ["postal address"]


async def test_a_missing_template_or_sender_makes_the_campaign_unsendable(
    sending_world: SendingWorld, app_state: AppState
) -> None:
    composer = CampaignComposer(app_state.settings, sending_world.sessionmaker)
    with pytest.raises(CampaignUnsendable, match="template"):
        await composer.prepare(content(sending_world, template_id=uuid.uuid4()))
    with pytest.raises(CampaignUnsendable, match="sender"):
        await composer.prepare(content(sending_world, sender_id=uuid.uuid4()))


async def test_only_the_outbox_takes_mail_from_an_unverified_domain(
    sending_world: SendingWorld, database_url: str, redis_url: str
) -> None:
    async with transaction(sending_world.sessionmaker) as session:
        await session.execute(
            text("UPDATE sending_domains SET verified_at = NULL WHERE workspace_id = :w"),
            {"w": sending_world.workspace_id},
        )
    outbox = make_settings(database_url, redis_url, transport="outbox")
    prepared = await CampaignComposer(outbox, sending_world.sessionmaker).prepare(
        content(sending_world)
    )
    assert prepared.templates
    smtp = make_settings(
        database_url, redis_url, transport="smtp", smtp={"host": "relay.example.com"}
    )
    with pytest.raises(CampaignUnsendable, match="not verified"):
        await CampaignComposer(smtp, sending_world.sessionmaker).prepare(content(sending_world))


async def test_each_message_carries_its_own_signed_urls(
    sending_world: SendingWorld, app_state: AppState
) -> None:
    composer = CampaignComposer(app_state.settings, sending_world.sessionmaker)
    prepared = await composer.prepare(content(sending_world))
    messages = [
        prepared.compose(
            DeliveryRow(
                id=uuid.uuid4(),
                workspace_id=sending_world.workspace_id,
                campaign_id=uuid.uuid4(),
                contact_id=uuid.uuid4(),
                email=f"{name}@example.org",
                variant=None,
                attempts=0,
            ),
            ContactRow(id=None, email=f"{name}@example.org", first_name=name.title()),
        )
        for name in ("ann", "bob")
    ]
    ann, bob = messages
    assert ann.subject == "Hello Ann"
    assert bob.subject == "Hello Bob"
    assert ann.html is not None
    assert bob.html is not None
    public = app_state.settings.api.external_url
    for message in messages:
        assert message.html is not None
        assert message.html.count(f"{public}/t/c/") == 2
        assert f"{public}/t/o/" in message.html
    # Nothing is shared between two recipients' URLs.
    urls = [{u for u in m.html.split('"') if u.startswith(public)} for m in messages if m.html]
    assert not urls[0] & urls[1]
