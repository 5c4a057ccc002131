"""A committed sending world for end-to-end tests: a verified sending domain with a real
DKIM key, a sender, a stored template, a list of many contacts, and a campaign the
scheduler has begun — sent through the real composer and a real transport."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.campaigns.engine import CampaignEngine
from maily.config import SenderSettings, Settings
from maily.delivery.composing import CampaignComposer
from maily.delivery.dkim import DkimAlgorithm, dns_record, generate_key
from maily.delivery.sender import Sender
from maily.delivery.transports.base import Transport
from maily.kit.db import AsyncSession, transaction
from maily.models import Campaign, SendingDomain, Template, TemplateVersion
from maily.models import Sender as SenderRow

DOMAIN = "news.example.com"
SELECTOR = "mly2026"
POSTAL_ADDRESS = "1 Main St, Springfield, 12345"

TEMPLATE = """<html><head><style>p { color: #333333; }</style></head><body>
<p>Hello {{ contact.first_name | default("there") }},</p>
<p>Our spring offers are in: <a href="https://shop.example.com/spring">see them</a>,
or <a href="https://shop.example.com/blog?from=mail">read the blog</a>.</p>
<p style="font-size: 11px">{{ workspace.name }}, {{ workspace.postal_address }} ·
<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""


@dataclass
class SendingWorld:
    sessionmaker: async_sessionmaker[AsyncSession]
    workspace_id: uuid.UUID
    list_id: uuid.UUID
    template_id: uuid.UUID
    sender_id: uuid.UUID
    dkim_record: bytes

    def dnsfunc(self, name: bytes, timeout: int = 5) -> bytes:
        """dkimpy's DNS lookup: the record the API tells the customer to publish."""
        return self.dkim_record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else b""

    async def add_contacts(self, count: int) -> None:
        """`count` subscribed contacts on the list, written in two statements."""
        async with transaction(self.sessionmaker) as session:
            params = {"w": self.workspace_id, "l": self.list_id, "n": count}
            await session.execute(
                text(
                    "INSERT INTO contacts (workspace_id, id, email, first_name, last_name, source)"
                    " SELECT :w, maily_uuid7(), 'reader' || n || '@inbox' || n % 7 || '.test',"
                    " 'Reader' || n, 'Test', 'api' FROM generate_series(1, :n) AS n"
                ),
                params,
            )
            await session.execute(
                text(
                    "INSERT INTO list_memberships (workspace_id, list_id, contact_id, status)"
                    " SELECT :w, :l, id, 'subscribed' FROM contacts WHERE workspace_id = :w"
                ),
                params,
            )

    async def begin_campaign(
        self, subject: str = "Spring is here, {{ contact.first_name }}"
    ) -> uuid.UUID:
        async with transaction(self.sessionmaker) as session:
            campaign = Campaign(
                workspace_id=self.workspace_id,
                name="Spring",
                subject=subject,
                template_id=self.template_id,
                sender_id=self.sender_id,
                list_ids=[self.list_id],
                status="scheduled",
                scheduled_at=datetime.now(UTC),
            )
            session.add(campaign)
            await session.flush()
            campaign_id = campaign.id
        async with transaction(self.sessionmaker) as session:
            begun = await CampaignEngine(session).begin(self.workspace_id, campaign_id)
            assert begun is not None
            assert begun.status == "sending", begun.failure_reason
        return campaign_id

    def sender(
        self,
        settings: Settings,
        transport: Transport,
        *,
        owner: str = "sender-1",
        **options: object,
    ) -> Sender:
        return Sender(
            self.sessionmaker,
            CampaignComposer(settings, self.sessionmaker),
            transport,
            SenderSettings(**{"batch_size": 500, **options}),
            owner=owner,
        )

    async def delivery_states(self, campaign_id: uuid.UUID) -> dict[str, int]:
        async with transaction(self.sessionmaker) as session:
            rows = await session.execute(
                text(
                    "SELECT status, count(*) FROM deliveries"
                    " WHERE workspace_id = :w AND campaign_id = :c GROUP BY status"
                ),
                {"w": self.workspace_id, "c": campaign_id},
            )
            return {status: int(count) for status, count in rows}


async def new_sending_world(
    sessionmaker: async_sessionmaker[AsyncSession],
    algorithm: DkimAlgorithm = DkimAlgorithm.rsa_sha256,
) -> SendingWorld:
    """Needs the secret box configured (the `app_state` fixture does it)."""
    key = generate_key(algorithm)
    async with transaction(sessionmaker) as session:
        workspace_id = uuid.uuid4()
        await session.execute(
            text(
                "INSERT INTO workspaces (id, name, slug, postal_address)"
                " VALUES (:id, 'Springfield Goods', :slug, :address)"
            ),
            {"id": workspace_id, "slug": f"e2e-{workspace_id.hex[:12]}", "address": POSTAL_ADDRESS},
        )
        list_id = uuid.uuid4()
        await session.execute(
            text("INSERT INTO lists (workspace_id, id, name) VALUES (:w, :id, 'Readers')"),
            {"w": workspace_id, "id": list_id},
        )
        domain = SendingDomain(
            workspace_id=workspace_id,
            domain=DOMAIN,
            dkim_selector=SELECTOR,
            dkim_algorithm=algorithm.value,
            dkim_private_key=key.private_key_pem,
            dkim_public_key=key.public_key,
            return_path_domain=f"bounces.{DOMAIN}",
            verified_at=datetime.now(UTC),
        )
        session.add(domain)
        await session.flush()
        sender = SenderRow(
            workspace_id=workspace_id,
            sending_domain_id=domain.id,
            from_name="Springfield Goods",
            from_email=f"hello@{DOMAIN}",
        )
        template = Template(workspace_id=workspace_id, name="Spring", kind="html")
        session.add_all([sender, template])
        await session.flush()
        session.add(
            TemplateVersion(
                workspace_id=workspace_id, template_id=template.id, version=1, source=TEMPLATE
            )
        )
    return SendingWorld(
        sessionmaker,
        workspace_id,
        list_id,
        template.id,
        sender.id,
        dns_record(algorithm, key.public_key).encode(),
    )


async def drop_sending_world(world: SendingWorld) -> None:
    async with transaction(world.sessionmaker) as session:
        await session.execute(
            text("DELETE FROM workspaces WHERE id = :w"), {"w": world.workspace_id}
        )
