"""HTTP routes for GDPR: a contact's data as JSON, and erasure of a contact."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from maily.api.deps import SessionDep
from maily.contacts.auth import ContactsExport, ContactsWrite
from maily.contacts.privacy import schemas
from maily.contacts.privacy.service import PrivacyService

router = APIRouter(prefix="/api/v1")


@router.get(
    "/workspaces/{workspace_id}/contacts/{contact_id}/data-export",
    operation_id="contacts_data_export",
    tags=["privacy"],
)
async def data_export(
    contact_id: uuid.UUID, ctx: ContactsExport, session: SessionDep, response: Response
) -> schemas.ContactDataExport:
    """Everything held about one contact, to hand to them (GDPR access and portability).
    Recorded in the audit log."""
    result = await PrivacyService(session).data_export(ctx, contact_id)
    response.headers["Content-Disposition"] = f'attachment; filename="contact-{contact_id}.json"'
    response.headers["Cache-Control"] = "no-store"
    return result


@router.post(
    "/workspaces/{workspace_id}/contacts/{contact_id}/erase",
    operation_id="contacts_erase",
    tags=["privacy"],
)
async def erase(
    contact_id: uuid.UUID, ctx: ContactsWrite, session: SessionDep
) -> schemas.ErasureOut:
    """Erase a contact (GDPR right to erasure): the contact, its list memberships,
    consent records and events are deleted; only a suppression holding the SHA-256 of
    the address remains, so the address is never mailed again, even if re-imported.
    Recorded in the audit log by that hash, never by the address. Cannot be undone."""
    return await PrivacyService(session).erase(ctx, contact_id)
