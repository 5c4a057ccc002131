"""The real composer: a campaign's templates and sending identity, turned into finished,
DKIM-signed messages, one per ledger row.

Everything that can be done once per campaign is done in `prepare()`: each variant's
template compiled (MJML, layout, CSS inlining, link table), the sender's DKIM key
decrypted and loaded, the headers every message shares precomputed. `compose()` then
renders Jinja, signs the tracking URLs and the message, and touches no database."""

from __future__ import annotations

import html
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.config import Settings
from maily.delivery.composer import (
    POSTAL_ADDRESS,
    UNSUBSCRIBE_LINK,
    CampaignContent,
    CampaignUnsendable,
    ContactRow,
    DeliveryRow,
)
from maily.delivery.domains.service import load_sending_identity
from maily.delivery.message import MessageBuilder
from maily.delivery.transports.base import OutgoingMessage
from maily.delivery.verp import Verp
from maily.kit.db import AsyncSession
from maily.kit.errors import MailyError
from maily.kit.logging import get_logger
from maily.models import Workspace
from maily.templates import (
    CompiledTemplate,
    CompiledVersion,
    TemplateProblem,
    campaign_variables,
    contact_variables,
    limits_from_settings,
    load_compiled_template,
    merge_variables,
    sample_contact,
    workspace_variables,
)
from maily.tracking.links import link_table_id, publish_link_table, store_link_table
from maily.tracking.tokens import TokenSigner

__all__ = ["CampaignComposer", "PreparedMessages"]

_log = get_logger("maily.delivery.composing")

# Stand-ins the content check renders with, to see where the real URLs would go.
_CHECK_UNSUBSCRIBE = "https://unsubscribe.check.invalid/u/token"


class _TemplateUnusable(CampaignUnsendable):
    """The campaign's template cannot be used; `missing` says so in the content
    check's words ("template", "template does not compile: …")."""

    def __init__(self, message: str, missing: str) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True, slots=True)
class PreparedMessages:
    """One campaign, ready to compose: compiled templates by variant (None is the
    campaign's own), the message builder of its sender, the signer of its URLs, and
    each template's link table id (what its click tokens point into)."""

    templates: Mapping[str | None, CompiledTemplate]
    builder: MessageBuilder
    tokens: TokenSigner
    public_url: str
    workspace: Mapping[str, Any]
    campaign: Mapping[str, Any]
    link_tables: Mapping[str | None, uuid.UUID]

    def compose(self, delivery: DeliveryRow, contact: ContactRow) -> OutgoingMessage:
        variant = delivery.variant if delivery.variant in self.templates else None
        template = self.templates[variant]
        # A test send has no ledger row; its links still need a well-formed token.
        delivery_id = delivery.id or uuid.uuid4()
        tokens = self.tokens
        unsubscribe_token = tokens.sign_unsubscribe(delivery_id)
        unsubscribe_url = f"{self.public_url}/u/{unsubscribe_token}"
        click_urls = tokens.click_urls(
            self.public_url, delivery_id, len(template.links), self.link_tables[variant]
        )
        variables = merge_variables(
            contact=contact_variables(
                contact.email, contact.first_name, contact.last_name, contact.fields, contact.tags
            ),
            workspace=self.workspace,
            campaign=self.campaign,
            unsubscribe_url=unsubscribe_url,
            preferences_url=f"{self.public_url}/p/{unsubscribe_token}",
            view_online_url=f"{self.public_url}/v/{unsubscribe_token}",
        )
        rendered = template.render(
            variables,
            click_url=click_urls.__getitem__,
            open_url=tokens.open_url(self.public_url, delivery_id),
        )
        name = f"{contact.first_name} {contact.last_name}".strip()
        return self.builder.build(
            recipient=delivery.email,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            delivery_id=delivery.id,
            recipient_name=name or None,
            unsubscribe_token=unsubscribe_token,
        )


class CampaignComposer:
    """Composes campaign mail from stored templates and senders (maily.delivery.composer)."""

    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.tokens = TokenSigner.from_settings(settings)
        self.verp = Verp.from_settings(settings)
        self.public_url = settings.api.external_url
        self.limits = limits_from_settings(settings)
        self.link_key_prefix = settings.tracking.link_table_key_prefix
        # Mail kept in the outbox never reaches a mailbox provider, so an unverified
        # domain is no risk there: a laptop without DNS can still try campaigns out.
        self.require_verified_domain = settings.transport != "outbox"

    async def _templates(
        self, session: AsyncSession, campaign: CampaignContent
    ) -> dict[str | None, CompiledVersion]:
        """Each variant's template compiled with that variant's subject; raises
        _TemplateUnusable naming what is wrong."""
        names: list[str | None] = [None, *(v.name for v in campaign.variants)]
        compiled: dict[str | None, CompiledVersion] = {}
        for name in names:
            template_id = campaign.template_for(name)
            if template_id is None:
                raise _TemplateUnusable("the campaign has no template", "template")
            try:
                loaded = await load_compiled_template(
                    session,
                    campaign.workspace_id,
                    template_id,
                    limits=self.limits,
                    subject=campaign.subject_for(name),
                    preheader=campaign.preheader,
                )
            except TemplateProblem as exc:
                problem = f"template does not compile: {exc}"
                raise _TemplateUnusable(f"its {problem}", problem) from exc
            except MailyError as exc:  # NotFound: the template was deleted
                problem = f"template cannot be used: {exc.message}"
                raise _TemplateUnusable(f"its {problem}", problem) from exc
            compiled[name] = loaded
        return compiled

    async def _store_link_tables(
        self,
        session: AsyncSession,
        campaign: CampaignContent,
        loaded: Mapping[str | None, CompiledVersion],
    ) -> dict[str | None, uuid.UUID]:
        """Each template's link table, stored for the click endpoint before any
        message that points into it exists: in PostgreSQL (committed) and in Redis."""
        tables: dict[str | None, uuid.UUID] = {}
        for name, version in loaded.items():
            links = version.compiled.links
            table_id = link_table_id(
                campaign.workspace_id, version.template_id, version.version, links
            )
            tables[name] = table_id
            await store_link_table(
                session,
                campaign.workspace_id,
                table_id,
                version.template_id,
                version.version,
                links,
            )
        await session.commit()
        if self.settings.redis.url:
            redis = Redis.from_url(self.settings.redis.url)
            try:
                for name, table_id in tables.items():
                    await publish_link_table(
                        redis, table_id, loaded[name].compiled.links, self.link_key_prefix
                    )
            except (RedisError, OSError) as exc:
                # PostgreSQL has it: the click endpoint reads it from there and puts it back.
                _log.warning("link tables not published to Redis", error=str(exc))
            finally:
                await redis.aclose()
        return tables

    async def check(self, campaign: CampaignContent) -> list[str]:
        """Render every variant for a sample contact and look for the unsubscribe
        link (an href to the real unsubscribe URL) and the postal address."""
        async with self.sessionmaker() as session:
            try:
                templates = await self._templates(session, campaign)
            except _TemplateUnusable as exc:
                return [exc.missing]
            workspace = await session.get(Workspace, campaign.workspace_id)
        name = workspace.name if workspace else ""
        missing: set[str] = set()
        for loaded in templates.values():
            template = loaded.compiled
            variables = merge_variables(
                contact=sample_contact(),
                workspace=workspace_variables(name, campaign.postal_address),
                campaign=campaign_variables(campaign.name, campaign.subject),
                unsubscribe_url=_CHECK_UNSUBSCRIBE,
            )
            try:
                rendered = template.render(
                    variables, click_url=lambda i: f"https://click.check.invalid/{i}"
                )
            except TemplateProblem:
                continue  # a sample contact's data is no proof either way
            if f'href="{_CHECK_UNSUBSCRIBE}"' not in rendered.html:
                missing.add(UNSUBSCRIBE_LINK)
            address = campaign.postal_address.strip()
            if not address or (
                html.escape(address) not in rendered.html and address not in rendered.text
            ):
                missing.add(POSTAL_ADDRESS)
        return sorted(missing)

    async def prepare(self, campaign: CampaignContent) -> PreparedMessages:
        if campaign.sender_id is None:
            raise CampaignUnsendable("the campaign has no sender")
        async with self.sessionmaker() as session:
            try:
                identity = await load_sending_identity(
                    session,
                    campaign.workspace_id,
                    campaign.sender_id,
                    require_verified=self.require_verified_domain,
                )
            except MailyError as exc:  # gone, or its domain is not verified
                raise CampaignUnsendable(exc.message) from exc
            loaded = await self._templates(session, campaign)
            workspace = await session.get(Workspace, campaign.workspace_id)
            link_tables = await self._store_link_tables(session, campaign, loaded)
        builder = identity.message_builder(
            verp=self.verp,
            campaign_id=campaign.campaign_id,
            list_id=campaign.campaign_id.hex,
            list_name=campaign.name,
            unsubscribe_url=f"{self.public_url}/u/{{token}}",
        )
        return PreparedMessages(
            templates={name: version.compiled for name, version in loaded.items()},
            link_tables=link_tables,
            builder=builder,
            tokens=self.tokens,
            public_url=self.public_url,
            workspace=workspace_variables(
                workspace.name if workspace else "", campaign.postal_address
            ),
            campaign=campaign_variables(campaign.name, campaign.subject),
        )
