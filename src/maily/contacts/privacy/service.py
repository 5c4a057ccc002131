"""GDPR rules: hand a person their data, and erase them leaving only a hashed suppression."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from maily.audit.repository import AuditRepository
from maily.audit.service import actor_of, record_audit
from maily.auth.service import WorkspaceContext
from maily.contacts.addresses import value_hash
from maily.contacts.privacy import schemas
from maily.contacts.privacy.repository import PrivacyRepository
from maily.kit.db import AsyncSession
from maily.kit.errors import NotFound
from maily.models import Contact

# What an erased address becomes in audit details other domains wrote.
ERASED_MARK = "[erased]"


class PrivacyService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.privacy = PrivacyRepository(session)
        self.audit = AuditRepository(session)

    async def _contact(
        self, ctx: WorkspaceContext, contact_id: uuid.UUID, *, for_update: bool = False
    ) -> Contact:
        contact = await self.privacy.contact(ctx.workspace_id, contact_id, for_update=for_update)
        if contact is None:
            raise NotFound("contact not found")
        return contact

    async def data_export(
        self, ctx: WorkspaceContext, contact_id: uuid.UUID
    ) -> schemas.ContactDataExport:
        """Profile, custom fields, tags, lists, consent trail, events and suppressions."""
        workspace_id = ctx.workspace_id
        contact = await self._contact(ctx, contact_id)
        digest = value_hash(contact.email)  # stored addresses are normalised
        labels = await self.privacy.field_labels(workspace_id)
        result = schemas.ContactDataExport(
            exported_at=datetime.now(UTC),
            workspace_id=workspace_id,
            contact=schemas.ContactProfile.model_validate(contact, from_attributes=True),
            custom_fields=[
                schemas.CustomFieldValue(key=key, label=labels.get(key, key), value=value)
                for key, value in sorted(contact.fields.items())
            ],
            tags=list(contact.tags),
            list_memberships=[
                schemas.ListMembershipRecord(
                    list_id=m.list_id,
                    list_name=name,
                    status=m.status,
                    joined_at=m.created_at,
                    updated_at=m.updated_at,
                )
                for m, name in await self.privacy.memberships(workspace_id, contact.id)
            ],
            consent_records=[
                schemas.ConsentRecordOut(
                    id=r.id,
                    list_id=r.list_id,
                    action=r.action,
                    source=r.source,
                    channel=r.channel,
                    reason=r.reason,
                    # INET arrives as an ipaddress object.
                    ip=str(r.ip) if r.ip is not None else None,
                    user_agent=r.user_agent,
                    occurred_at=r.occurred_at,
                )
                for r in await self.privacy.consent_records(workspace_id, contact.id)
            ],
            events=[
                schemas.EventRecord(
                    id=e.id,
                    type=e.type,
                    occurred_at=e.occurred_at,
                    campaign_id=e.campaign_id,
                    data=e.data,
                )
                for e in await self.privacy.events(workspace_id, contact.id)
            ],
            suppressions=[
                schemas.SuppressionRecord(
                    id=s.id, reason=s.reason, note=s.note, created_at=s.created_at
                )
                for s in await self.privacy.address_suppressions(workspace_id, digest)
            ],
        )
        await record_audit(
            self.session,
            workspace_id,
            actor_of(ctx),
            "contact.data_exported",
            "contact",
            contact.id,
            {"email_sha256": digest.hex()},
        )
        return result

    async def erase(self, ctx: WorkspaceContext, contact_id: uuid.UUID) -> schemas.ErasureOut:
        """Remove the person's data everywhere in the database, keeping only the hash of
        their address as a suppression, so a later import or sign-up is never mailed.

        Files already written (import uploads, error reports, earlier exports) are not
        rewritten; see docs/privacy.md."""
        workspace_id = ctx.workspace_id
        contact = await self._contact(ctx, contact_id, for_update=True)
        email = contact.email
        digest = value_hash(email)
        events_deleted = await self.privacy.delete_events(workspace_id, contact.id)
        events_deleted += await self.privacy.delete_held_events(workspace_id, contact.id)
        suppression_id = await self.privacy.keep_hashed_suppression(workspace_id, email, digest)
        # Other domains should never put an address in audit details; if one did,
        # the address still must not outlive the person's erasure.
        await self.audit.redact(workspace_id, email, ERASED_MARK)
        await self.privacy.delete_contact(contact)
        await record_audit(
            self.session,
            workspace_id,
            actor_of(ctx),
            "contact.erased",
            "contact",
            contact_id,
            {
                "email_sha256": digest.hex(),
                "suppression_id": str(suppression_id),
                "events_deleted": events_deleted,
            },
        )
        return schemas.ErasureOut(
            contact_id=contact_id,
            email_sha256=digest.hex(),
            suppression_id=suppression_id,
            events_deleted=events_deleted,
        )
