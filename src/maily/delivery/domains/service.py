"""Business rules for sending domains and senders, and the sending identity senders use.

No SQL and no HTTP here: the repository does the first, endpoints the second."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from maily.audit.service import actor_of, record_audit
from maily.auth.service import WorkspaceContext
from maily.config import Settings
from maily.delivery.dkim import DkimAlgorithm, DkimSigner, generate_key
from maily.delivery.domains import schemas
from maily.delivery.domains.records import (
    RecordStatus,
    expected_records,
    return_path_domain,
    zone_file,
)
from maily.delivery.domains.repository import (
    DuplicateDomain,
    SenderRepository,
    SendingDomainRepository,
)
from maily.delivery.domains.verification import DnsLookup, check_records
from maily.delivery.message import MessageBuilder
from maily.delivery.verp import Verp
from maily.kit.db import AsyncSession
from maily.kit.errors import Conflict, NotFound, Unprocessable
from maily.kit.pagination import PageParams
from maily.models import Sender, SendingDomain


def new_selector(now: datetime | None = None) -> str:
    """`mly202612a1b2`: dated, so a rotated key gets a new name, and random, so two
    workspaces sending for one domain never want the same DNS name."""
    now = now or datetime.now(UTC)
    return f"mly{now:%Y%m}{secrets.token_hex(2)}"


def describe_domain(domain: SendingDomain, settings: Settings) -> schemas.SendingDomainOut:
    """The domain with the records to publish and each one's status at the last check."""
    records = expected_records(domain, settings)
    checks = domain.dns_checks or {}
    out = []
    for record in records:
        check = checks.get(record.purpose.value, {})
        if check.get("asked") != [record.type, record.value]:
            # Checked against a record the settings no longer ask for.
            check = {}
        out.append(
            schemas.DnsRecordOut(
                purpose=record.purpose,
                type=record.type,
                name=record.name,
                value=record.value,
                priority=record.priority,
                status=RecordStatus(check.get("status", RecordStatus.pending.value)),
                detail=check.get("detail"),
                found=list(check.get("found", [])),
            )
        )
    return schemas.SendingDomainOut(
        id=domain.id,
        domain=domain.domain,
        verified=domain.verified_at is not None,
        dkim_selector=domain.dkim_selector,
        dkim_algorithm=DkimAlgorithm(domain.dkim_algorithm),
        return_path_domain=domain.return_path_domain,
        records=out,
        zone_file=zone_file(records),
        checked_at=domain.checked_at,
        verified_at=domain.verified_at,
        created_at=domain.created_at,
        updated_at=domain.updated_at,
    )


class SendingDomainService:
    def __init__(
        self, session: AsyncSession, settings: Settings, lookup: DnsLookup | None = None
    ) -> None:
        self.session = session
        self.settings = settings
        self.lookup = lookup or DnsLookup.from_settings(settings.delivery)
        self.domains = SendingDomainRepository(session)

    async def get(self, ctx: WorkspaceContext, domain_id: uuid.UUID) -> SendingDomain:
        domain = await self.domains.get(ctx.workspace_id, domain_id)
        if domain is None:
            raise NotFound("sending domain not found")
        return domain

    async def list(self, ctx: WorkspaceContext, page: PageParams) -> list[SendingDomain]:
        return await self.domains.list(ctx.workspace_id, page)

    async def create(
        self, ctx: WorkspaceContext, body: schemas.SendingDomainCreate
    ) -> SendingDomain:
        if await self.domains.by_name(ctx.workspace_id, body.domain) is not None:
            raise Conflict(f"{body.domain} is already a sending domain of this workspace")
        # RSA key generation is tens of milliseconds of CPU: off the event loop.
        key = await asyncio.to_thread(generate_key, body.dkim_algorithm)
        domain = SendingDomain(
            workspace_id=ctx.workspace_id,
            domain=body.domain,
            dkim_selector=body.dkim_selector or new_selector(),
            dkim_algorithm=key.algorithm.value,
            dkim_private_key=key.private_key_pem,
            dkim_public_key=key.public_key,
            return_path_domain=return_path_domain(body.domain, self.settings),
            dns_checks={},
        )
        try:
            await self.domains.add(domain)
        except DuplicateDomain:
            raise Conflict(f"{body.domain} is already a sending domain of this workspace") from None
        await record_audit(
            self.session,
            ctx.workspace_id,
            actor_of(ctx),
            "sending_domain.created",
            "sending_domain",
            domain.id,
            {"domain": domain.domain, "dkim_algorithm": domain.dkim_algorithm},
        )
        return domain

    async def delete(self, ctx: WorkspaceContext, domain_id: uuid.UUID) -> None:
        domain = await self.get(ctx, domain_id)
        senders = await self.domains.sender_count(ctx.workspace_id, domain_id)
        if senders:
            raise Conflict(
                f"{domain.domain} is used by {senders} sender(s); delete or move them first"
            )
        await self.domains.delete(domain)
        await record_audit(
            self.session,
            ctx.workspace_id,
            actor_of(ctx),
            "sending_domain.deleted",
            "sending_domain",
            domain_id,
            {"domain": domain.domain},
        )

    async def verify(self, ctx: WorkspaceContext, domain_id: uuid.UUID) -> SendingDomain:
        """Look every record up now and keep the results. The domain becomes verified
        the first time all of them are found as asked."""
        domain = await self.domains.get_for_update(ctx.workspace_id, domain_id)
        if domain is None:
            raise NotFound("sending domain not found")
        records = expected_records(domain, self.settings)
        results = await check_records(records, self.lookup, domain.domain)
        now = datetime.now(UTC)
        asked = {record.purpose: [record.type, record.value] for record in records}
        domain.dns_checks = {
            purpose.value: {**result.to_json(), "asked": asked[purpose]}
            for purpose, result in results.items()
        }
        domain.checked_at = now
        passed = all(result.status is RecordStatus.verified for result in results.values())
        if passed and domain.verified_at is None:
            domain.verified_at = now
            await record_audit(
                self.session,
                ctx.workspace_id,
                actor_of(ctx),
                "sending_domain.verified",
                "sending_domain",
                domain.id,
                {"domain": domain.domain},
            )
        return await self.domains.save(domain)


def sender_out(sender: Sender, domain: SendingDomain) -> schemas.SenderOut:
    return schemas.SenderOut(
        id=sender.id,
        from_name=sender.from_name,
        from_email=sender.from_email,
        reply_to=sender.reply_to,
        sending_domain_id=domain.id,
        domain=domain.domain,
        verified=domain.verified_at is not None,
        created_at=sender.created_at,
        updated_at=sender.updated_at,
    )


class SenderService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.senders = SenderRepository(session)
        self.domains = SendingDomainRepository(session)

    async def get(
        self, ctx: WorkspaceContext, sender_id: uuid.UUID
    ) -> tuple[Sender, SendingDomain]:
        found = await self.senders.get(ctx.workspace_id, sender_id)
        if found is None:
            raise NotFound("sender not found")
        return found

    async def list(
        self, ctx: WorkspaceContext, page: PageParams
    ) -> list[tuple[Sender, SendingDomain]]:
        return await self.senders.list(ctx.workspace_id, page)

    async def _domain_of(self, workspace_id: uuid.UUID, from_email: str) -> SendingDomain:
        name = from_email.rpartition("@")[2]
        domain = await self.domains.by_name(workspace_id, name)
        if domain is None:
            raise Unprocessable(
                f"{name} is not a sending domain of this workspace",
                details=[
                    {
                        "loc": ["body", "from_email"],
                        "message": f"add {name} under sending-domains first; From must be "
                        "on a domain whose DKIM key Maily signs with",
                        "type": "unknown_sending_domain",
                    }
                ],
            )
        return domain

    async def create(
        self, ctx: WorkspaceContext, body: schemas.SenderCreate
    ) -> tuple[Sender, SendingDomain]:
        domain = await self._domain_of(ctx.workspace_id, body.from_email)
        sender = await self.senders.add(
            Sender(
                workspace_id=ctx.workspace_id,
                sending_domain_id=domain.id,
                from_name=body.from_name,
                from_email=body.from_email,
                reply_to=body.reply_to,
            )
        )
        await record_audit(
            self.session,
            ctx.workspace_id,
            actor_of(ctx),
            "sender.created",
            "sender",
            sender.id,
            {"domain": domain.domain},
        )
        return sender, domain

    async def update(
        self, ctx: WorkspaceContext, sender_id: uuid.UUID, body: schemas.SenderUpdate
    ) -> tuple[Sender, SendingDomain]:
        sender, domain = await self.get(ctx, sender_id)
        given = body.model_fields_set
        if body.from_email is not None:
            domain = await self._domain_of(ctx.workspace_id, body.from_email)
            sender.from_email = body.from_email
            sender.sending_domain_id = domain.id
        if body.from_name is not None:
            sender.from_name = body.from_name
        if "reply_to" in given:
            sender.reply_to = body.reply_to
        return await self.senders.save(sender), domain

    async def delete(self, ctx: WorkspaceContext, sender_id: uuid.UUID) -> None:
        sender, _ = await self.get(ctx, sender_id)
        await self.senders.delete(sender)
        await record_audit(
            self.session, ctx.workspace_id, actor_of(ctx), "sender.deleted", "sender", sender_id
        )


@dataclass(frozen=True, slots=True)
class SendingIdentity:
    """Everything a send needs from a sender: who the mail is from, where bounces
    go, and the signer of its domain (key decrypted and loaded once)."""

    workspace_id: uuid.UUID
    sender_id: uuid.UUID
    from_name: str
    from_email: str
    reply_to: str | None
    domain: str
    return_path_domain: str
    signer: DkimSigner

    def message_builder(
        self,
        *,
        verp: Verp,
        campaign_id: uuid.UUID | None = None,
        list_id: str | None = None,
        list_name: str | None = None,
        unsubscribe_url: str | None = None,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> MessageBuilder:
        return MessageBuilder(
            from_email=self.from_email,
            from_name=self.from_name,
            reply_to=self.reply_to,
            sending_domain=self.domain,
            return_path_domain=self.return_path_domain,
            workspace_id=self.workspace_id,
            verp=verp,
            signer=self.signer,
            campaign_id=campaign_id,
            list_id=list_id,
            list_name=list_name,
            unsubscribe_url=unsubscribe_url,
            extra_headers=extra_headers,
        )


async def load_sending_identity(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    sender_id: uuid.UUID,
    *,
    require_verified: bool = True,
) -> SendingIdentity:
    """The identity a campaign sends as. NotFound when the sender is gone; Conflict
    when its domain is not verified (unless `require_verified` is off, for mail that
    never leaves Maily: the outbox), since unaligned mail only hurts the domain's
    reputation."""
    found = await SenderRepository(session).get(workspace_id, sender_id)
    if found is None:
        raise NotFound("sender not found")
    sender, domain = found
    if require_verified and domain.verified_at is None:
        raise Conflict(
            f"the sending domain {domain.domain} is not verified yet: publish its DNS "
            "records and run the check"
        )
    return SendingIdentity(
        workspace_id=workspace_id,
        sender_id=sender.id,
        from_name=sender.from_name,
        from_email=sender.from_email,
        reply_to=sender.reply_to,
        domain=domain.domain,
        return_path_domain=domain.return_path_domain,
        signer=DkimSigner.from_domain(domain),
    )
