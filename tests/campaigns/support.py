"""Test doubles and a committed little world for the send engine's tests.

The engine's own tests use a stand-in composer (its "templates" are text bodies kept
in memory, checked for the unsubscribe link and postal address placeholders like the
real renderer would) and a recording transport with scripted outcomes. Scheduler and
sender tests need data other connections can see, so the world is committed in a
fresh workspace and deleted afterwards."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.auth.permissions import CATALOGUE
from maily.auth.service import Principal, WorkspaceContext
from maily.campaigns.engine import CampaignEngine
from maily.campaigns.service import CampaignService
from maily.config import SenderSettings
from maily.contacts.addresses import value_hash
from maily.delivery.composer import (
    POSTAL_ADDRESS,
    UNSUBSCRIBE_LINK,
    CampaignContent,
    CampaignUnsendable,
    ContactRow,
    DeliveryRow,
)
from maily.delivery.parts import DeliveryParts
from maily.delivery.sender import Sender
from maily.delivery.transports.base import Outcome, OutgoingMessage, SendResult
from maily.kit.db import AsyncSession, transaction
from maily.models import (
    Campaign,
    Contact,
    Delivery,
    Event,
    ListMembership,
    MailingList,
    SuppressionEntry,
    Workspace,
)

GOOD_BODY = "Hi {{first_name}}!\nUnsubscribe: {{unsubscribe_url}}\n{{postal_address}}"


class StandInComposer:
    """Composes plain-text messages from in-memory bodies keyed by template id."""

    def __init__(self) -> None:
        self.templates: dict[uuid.UUID, str] = {}
        self.prepared: Counter[uuid.UUID] = Counter()

    def template(self, body: str = GOOD_BODY) -> uuid.UUID:
        template_id = uuid.uuid4()
        self.templates[template_id] = body
        return template_id

    async def check(self, campaign: CampaignContent) -> list[str]:
        missing: list[str] = []
        names = {campaign.template_for(v.name) for v in campaign.variants} or {campaign.template_id}
        for template_id in names:
            body = self.templates.get(template_id) if template_id else None
            if body is None:
                return ["template"]
            if "{{unsubscribe_url}}" not in body:
                missing.append(UNSUBSCRIBE_LINK)
            if "{{postal_address}}" not in body:
                missing.append(POSTAL_ADDRESS)
        return list(dict.fromkeys(missing))

    async def prepare(self, campaign: CampaignContent) -> StandInPrepared:
        self.prepared[campaign.campaign_id] += 1
        names = [None, *(v.name for v in campaign.variants)]
        bodies = {}
        for name in names:
            template_id = campaign.template_for(name)
            if template_id not in self.templates:
                raise CampaignUnsendable(f"template {template_id} does not exist")
            bodies[name] = self.templates[template_id]  # type: ignore[index]
        return StandInPrepared(campaign, bodies)


class StandInPrepared:
    def __init__(self, campaign: CampaignContent, bodies: dict[str | None, str]) -> None:
        self.campaign = campaign
        self.bodies = bodies

    def compose(self, delivery: DeliveryRow, contact: ContactRow) -> OutgoingMessage:
        if contact.fields.get("explode"):
            raise ValueError("the template broke on this contact")
        body = self.bodies.get(delivery.variant, self.bodies[None])
        text_part = (
            body.replace("{{first_name}}", contact.first_name)
            .replace("{{unsubscribe_url}}", f"https://maily.test/u/{delivery.id}")
            .replace("{{postal_address}}", self.campaign.postal_address)
        )
        subject = self.campaign.subject_for(delivery.variant)
        data = (
            f"From: news@maily.test\r\nTo: {delivery.email}\r\nSubject: {subject}\r\n\r\n"
            f"{text_part}\r\n"
        ).encode()
        return OutgoingMessage(
            delivery_id=delivery.id,
            workspace_id=delivery.workspace_id,
            envelope_from="bounces@maily.test",
            recipient=delivery.email,
            data=data,
            from_header="news@maily.test",
            to_header=delivery.email,
            subject=subject,
            html=None,
            text=text_part,
            metadata={"campaign_id": str(delivery.campaign_id), "variant": delivery.variant or ""},
        )


class RecordingTransport:
    """Records every message; answers each recipient from its script, else `sent`.
    With `gate` set, `send` waits for the gate to open after announcing `entered`."""

    name = "recording"

    def __init__(self) -> None:
        self.messages: list[OutgoingMessage] = []
        self.script: dict[str, deque[SendResult]] = defaultdict(deque)
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.closed = False

    def answer(self, recipient: str, *results: SendResult) -> None:
        self.script[recipient].extend(results)

    def recipients(self) -> list[str]:
        return [m.recipient for m in self.messages]

    async def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        results = []
        for message in messages:
            self.messages.append(message)
            queue = self.script.get(message.recipient)
            results.append(
                queue.popleft()
                if queue
                else SendResult(Outcome.sent, code=250, provider_message_id=uuid.uuid4().hex)
            )
        return results

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class World:
    """A committed workspace with contacts and lists, for engine tests."""

    sessionmaker: async_sessionmaker[AsyncSession]
    workspace_id: uuid.UUID
    composer: StandInComposer = field(default_factory=StandInComposer)
    transport: RecordingTransport = field(default_factory=RecordingTransport)
    contacts: dict[str, uuid.UUID] = field(default_factory=dict)
    lists: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def ctx(self) -> WorkspaceContext:
        """A caller of this workspace holding every permission, for service calls."""
        return WorkspaceContext(
            workspace_id=self.workspace_id,
            principal=Principal(),
            role=None,
            permissions=frozenset(CATALOGUE),
        )

    def service(self, session: AsyncSession) -> CampaignService:
        return CampaignService(session, DeliveryParts(self.composer, self.transport))

    async def add_list(self, name: str) -> uuid.UUID:
        async with transaction(self.sessionmaker) as session:
            row = MailingList(workspace_id=self.workspace_id, name=name)
            session.add(row)
            await session.flush()
            self.lists[name] = row.id
        return row.id

    async def add_contacts(
        self,
        names: Sequence[str],
        *,
        lists: Sequence[str] = (),
        membership: str = "subscribed",
        **attrs: Any,
    ) -> list[uuid.UUID]:
        ids = []
        async with transaction(self.sessionmaker) as session:
            for name in names:
                contact = Contact(
                    workspace_id=self.workspace_id,
                    email=f"{name}@example.com",
                    first_name=name.title(),
                    **attrs,
                )
                session.add(contact)
                await session.flush()
                self.contacts[name] = contact.id
                ids.append(contact.id)
                for list_name in lists:
                    session.add(
                        ListMembership(
                            workspace_id=self.workspace_id,
                            list_id=self.lists[list_name],
                            contact_id=contact.id,
                            status=membership,
                        )
                    )
        return ids

    async def suppress(self, email: str, reason: str = "manual") -> None:
        async with transaction(self.sessionmaker) as session:
            session.add(
                SuppressionEntry(
                    workspace_id=self.workspace_id,
                    kind="address",
                    value=email,
                    value_hash=value_hash(email),
                    reason=reason,
                )
            )

    async def campaign(self, *, lists: Sequence[str] = ("news",), **values: Any) -> uuid.UUID:
        """A campaign the scheduler has just begun: its ledger is made, it is sending."""
        values.setdefault("template_id", self.composer.template())
        async with transaction(self.sessionmaker) as session:
            campaign = Campaign(
                workspace_id=self.workspace_id,
                name="Campaign",
                subject=values.pop("subject", "Hello"),
                sender_id=uuid.uuid4(),
                list_ids=[self.lists[name] for name in lists],
                status="scheduled",
                scheduled_at=datetime.now(UTC),
                **values,
            )
            session.add(campaign)
            await session.flush()
            campaign_id = campaign.id
        async with transaction(self.sessionmaker) as session:
            begun = await CampaignEngine(session).begin(self.workspace_id, campaign_id)
            assert begun is not None
            assert begun.status == "sending", begun.failure_reason
        return campaign_id

    def sender(self, owner: str = "sender-1", **settings: Any) -> Sender:
        return Sender(
            self.sessionmaker,
            self.composer,
            self.transport,
            SenderSettings(**{"batch_size": 50, **settings}),
            owner=owner,
            rand=lambda: 1.0,
        )

    async def drain(self, sender: Sender, limit: int = 100) -> int:
        """Run batches until one finds nothing due; returns the batches that did work."""
        for done in range(limit):
            report = await sender.run_batch()
            if report.leased == 0 and report.skipped == 0:
                return done
        raise AssertionError("the ledger never drained")

    async def rows(self, campaign_id: uuid.UUID) -> dict[str, Delivery]:
        """The campaign's deliveries by contact name."""
        names = {v: k for k, v in self.contacts.items()}
        async with transaction(self.sessionmaker) as session:
            found = (
                await session.execute(
                    select(Delivery).where(
                        Delivery.workspace_id == self.workspace_id,
                        Delivery.campaign_id == campaign_id,
                    )
                )
            ).scalars()
            return {names[d.contact_id]: d for d in found}

    async def status_of(self, campaign_id: uuid.UUID) -> str:
        async with transaction(self.sessionmaker) as session:
            campaign = await session.get(Campaign, (self.workspace_id, campaign_id))
            assert campaign is not None
            return campaign.status

    async def set_status(self, campaign_id: uuid.UUID, status: str) -> None:
        async with transaction(self.sessionmaker) as session:
            await session.execute(
                update(Campaign)
                .where(Campaign.workspace_id == self.workspace_id, Campaign.id == campaign_id)
                .values(status=status)
            )

    async def execute(self, sql: str, **params: Any) -> None:
        async with transaction(self.sessionmaker) as session:
            await session.execute(text(sql), {"w": self.workspace_id, **params})

    async def add_event(
        self, name: str, campaign_id: uuid.UUID, type_: str, *, machine: str | None = None
    ) -> None:
        async with transaction(self.sessionmaker) as session:
            session.add(
                Event(
                    workspace_id=self.workspace_id,
                    occurred_at=datetime.now(UTC),
                    contact_id=self.contacts[name],
                    campaign_id=campaign_id,
                    type=type_,
                    machine=machine,
                )
            )


async def new_world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    async with transaction(sessionmaker) as session:
        workspace = Workspace(
            name="Engine",
            slug=f"engine-{uuid.uuid4().hex[:12]}",
            postal_address="1 Main St, Springfield",
        )
        session.add(workspace)
        await session.flush()
        workspace_id = workspace.id
    world = World(sessionmaker, workspace_id)
    await world.add_list("news")
    return world


async def drop_world(world: World) -> None:
    async with transaction(world.sessionmaker) as session:
        await session.execute(delete(Event).where(Event.workspace_id == world.workspace_id))
        await session.execute(delete(Workspace).where(Workspace.id == world.workspace_id))
