"""Business rules for contacts, custom fields, lists, bulk actions and suppression.

No SQL and no HTTP here: repositories do the first, endpoints the second."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, true

from maily.auth.service import WorkspaceContext
from maily.contacts import schemas
from maily.contacts.addresses import InvalidAddress, normalize_domain, normalize_email, value_hash
from maily.contacts.fields import RESERVED_KEYS, InvalidFieldValue, validate_values
from maily.contacts.repository import (
    BulkMembershipRepository,
    ContactRepository,
    CustomFieldRepository,
    ListRepository,
    SuppressionRepository,
)
from maily.kit.db import AsyncSession
from maily.kit.errors import BadRequest, Conflict, NotFound, Unprocessable
from maily.models import Contact, CustomField, MailingList, SuppressionEntry


def _email_or_422(raw: str, field: str = "email") -> str:
    try:
        return normalize_email(raw)
    except InvalidAddress as exc:
        raise Unprocessable(
            f"{field} is not a valid address: {exc}",
            details=[{"loc": ["body", field], "message": str(exc)}],
        ) from exc


class ContactService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.fields = CustomFieldRepository(session)
        self.lists = ListRepository(session)
        self.contacts = ContactRepository(session)
        self.memberships = BulkMembershipRepository(session)
        self.suppressions = SuppressionRepository(session)

    # -- custom fields ----------------------------------------------------------

    async def create_field(
        self, ctx: WorkspaceContext, body: schemas.CustomFieldCreate
    ) -> CustomField:
        if body.key in RESERVED_KEYS:
            raise Conflict(f"{body.key!r} is a standard contact attribute; choose another key")
        if await self.fields.key_taken(ctx.workspace_id, body.key):
            raise Conflict(f"a custom field with key {body.key!r} exists already")
        return await self.fields.add(
            CustomField(
                workspace_id=ctx.workspace_id,
                key=body.key,
                label=body.label,
                type=body.type.value,
                choices=list(dict.fromkeys(body.choices)),
            )
        )

    async def get_field(self, ctx: WorkspaceContext, field_id: uuid.UUID) -> CustomField:
        field = await self.fields.get(ctx.workspace_id, field_id)
        if field is None:
            raise NotFound("custom field not found")
        return field

    async def update_field(
        self, ctx: WorkspaceContext, field_id: uuid.UUID, body: schemas.CustomFieldUpdate
    ) -> CustomField:
        field = await self.get_field(ctx, field_id)
        if body.label is not None:
            field.label = body.label
        if body.choices is not None:
            if field.type != "choice":
                raise BadRequest("only choice fields take choices")
            if not body.choices:
                raise BadRequest("a choice field needs at least one choice")
            field.choices = list(dict.fromkeys(body.choices))
        await self.session.flush()
        return field

    async def delete_field(self, ctx: WorkspaceContext, field_id: uuid.UUID) -> None:
        await self.fields.delete(await self.get_field(ctx, field_id))

    async def _field_values(
        self, workspace_id: uuid.UUID, values: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            return validate_values(await self.fields.specs(workspace_id), values)
        except InvalidFieldValue as exc:
            raise Unprocessable(
                f"custom field {exc}",
                details=[{"loc": ["body", "fields", exc.key], "message": exc.reason}],
            ) from exc

    # -- lists ------------------------------------------------------------------

    async def create_list(self, ctx: WorkspaceContext, body: schemas.ListCreate) -> MailingList:
        return await self.lists.add(MailingList(workspace_id=ctx.workspace_id, **body.model_dump()))

    async def get_list(self, ctx: WorkspaceContext, list_id: uuid.UUID) -> MailingList:
        mailing_list = await self.lists.get(ctx.workspace_id, list_id)
        if mailing_list is None:
            raise NotFound("list not found")
        return mailing_list

    async def update_list(
        self, ctx: WorkspaceContext, list_id: uuid.UUID, body: schemas.ListUpdate
    ) -> MailingList:
        mailing_list = await self.get_list(ctx, list_id)
        for key, value in body.model_dump(exclude_none=True).items():
            setattr(mailing_list, key, value)
        await self.session.flush()
        return mailing_list

    async def delete_list(self, ctx: WorkspaceContext, list_id: uuid.UUID) -> None:
        await self.lists.delete(await self.get_list(ctx, list_id))

    async def _check_lists(self, workspace_id: uuid.UUID, list_ids: list[uuid.UUID]) -> None:
        missing = set(list_ids) - await self.lists.existing_ids(workspace_id, list_ids)
        if missing:
            raise NotFound(f"list not found: {', '.join(sorted(map(str, missing)))}")

    # -- contacts ---------------------------------------------------------------

    async def create_contact(self, ctx: WorkspaceContext, body: schemas.ContactCreate) -> Contact:
        email = _email_or_422(body.email)
        if await self.contacts.get_by_email(ctx.workspace_id, email) is not None:
            raise Conflict(f"a contact with the address {email} exists already")
        if body.list_ids and body.status != "subscribed":
            raise Unprocessable(
                "an unsubscribed contact cannot be put on lists",
                details=[
                    {
                        "loc": ["body", "list_ids"],
                        "message": "leave out or set status to subscribed",
                    }
                ],
            )
        await self._check_lists(ctx.workspace_id, body.list_ids)
        contact = await self.contacts.add(
            Contact(
                workspace_id=ctx.workspace_id,
                email=email,
                first_name=body.first_name,
                last_name=body.last_name,
                status=body.status,
                timezone=body.timezone,
                locale=body.locale,
                fields={
                    k: v
                    for k, v in (await self._field_values(ctx.workspace_id, body.fields)).items()
                    if v is not None
                },
                tags=list(dict.fromkeys(body.tags)),
                source="api",
            )
        )
        from maily.contacts import subscriptions

        for list_id in body.list_ids:
            mailing_list = await self.get_list(ctx, list_id)
            await subscriptions.subscribe(
                self.session,
                workspace_id=ctx.workspace_id,
                contact=contact,
                mailing_list=mailing_list,
                source="api",
            )
        return contact

    async def get_contact(self, ctx: WorkspaceContext, contact_id: uuid.UUID) -> Contact:
        contact = await self.contacts.get(ctx.workspace_id, contact_id)
        if contact is None:
            raise NotFound("contact not found")
        return contact

    async def update_contact(
        self, ctx: WorkspaceContext, contact_id: uuid.UUID, body: schemas.ContactUpdate
    ) -> Contact:
        contact = await self.get_contact(ctx, contact_id)
        changes = body.model_dump(exclude_unset=True)
        if "email" in changes and changes["email"] is not None:
            email = _email_or_422(changes.pop("email"))
            if email != contact.email:
                if await self.contacts.get_by_email(ctx.workspace_id, email) is not None:
                    raise Conflict(f"a contact with the address {email} exists already")
                contact.email = email
        if "fields" in changes:
            values = await self._field_values(ctx.workspace_id, changes.pop("fields") or {})
            merged = {**contact.fields, **values}
            contact.fields = {k: v for k, v in merged.items() if v is not None}
        if "tags" in changes:
            contact.tags = list(dict.fromkeys(changes.pop("tags") or []))
        for key in ("first_name", "last_name"):
            if key in changes:
                setattr(contact, key, changes.pop(key) or "")
        for key in ("timezone", "locale"):
            if key in changes:
                setattr(contact, key, changes.pop(key))
        await self.contacts.refresh(contact)
        return contact

    async def delete_contact(self, ctx: WorkspaceContext, contact_id: uuid.UUID) -> None:
        contact = await self.get_contact(ctx, contact_id)
        await self.contacts.delete(ctx.workspace_id, Contact.id == contact.id)

    async def detail(self, ctx: WorkspaceContext, contact: Contact) -> schemas.ContactDetail:
        memberships = await self.contacts.memberships(ctx.workspace_id, contact.id)
        return schemas.ContactDetail(
            **schemas.ContactOut.model_validate(contact).model_dump(),
            lists=[
                schemas.MembershipOut(list_id=m.list_id, status=m.status, updated_at=m.updated_at)
                for m in memberships
            ],
            suppressed=await self.contacts.is_suppressed(ctx.workspace_id, contact.id),
        )

    # -- bulk -------------------------------------------------------------------

    async def _predicate(
        self, ctx: WorkspaceContext, selection: schemas.Selection
    ) -> ColumnElement[bool]:
        if selection.contact_ids is not None:
            return Contact.id.in_(selection.contact_ids)
        if selection.segment_id is not None:
            from maily.segments.compiler import load_segment_predicate

            return await load_segment_predicate(
                self.session, ctx.workspace_id, selection.segment_id
            )
        return true()

    async def bulk(self, ctx: WorkspaceContext, action: schemas.BulkAction) -> int:
        predicate = await self._predicate(ctx, action.selection)
        ids = self.contacts.ids(ctx.workspace_id, predicate)
        if action.action == "tag":
            assert action.tag
            return await self.contacts.add_tag(ctx.workspace_id, predicate, action.tag)
        if action.action == "untag":
            assert action.tag
            return await self.contacts.remove_tag(ctx.workspace_id, predicate, action.tag)
        if action.action in ("add_to_list", "remove_from_list"):
            assert action.list_id
            await self.get_list(ctx, action.list_id)
            if action.action == "add_to_list":
                return await self.memberships.add_to_list(ctx.workspace_id, ids, action.list_id)
            return await self.memberships.remove_from_list(
                ctx.workspace_id, ids, action.list_id, "admin"
            )
        if action.action == "unsubscribe":
            return await self.memberships.unsubscribe(ctx.workspace_id, ids, "admin")
        return await self.contacts.delete(ctx.workspace_id, predicate)

    # -- suppression ------------------------------------------------------------

    async def suppress(
        self, ctx: WorkspaceContext, body: schemas.SuppressionCreate
    ) -> SuppressionEntry:
        try:
            value = (
                normalize_email(body.value)
                if body.kind == "address"
                else normalize_domain(body.value)
            )
        except InvalidAddress as exc:
            raise Unprocessable(f"value is not a valid {body.kind}: {exc}") from exc
        entry = await self.suppressions.add(
            SuppressionEntry(
                workspace_id=ctx.workspace_id,
                kind=body.kind,
                value=value,
                value_hash=value_hash(value),
                reason=body.reason,
                note=body.note,
            )
        )
        if entry is None:
            raise Conflict(f"{value} is suppressed already")
        return entry

    async def unsuppress(self, ctx: WorkspaceContext, entry_id: uuid.UUID) -> None:
        entry = await self.suppressions.get(ctx.workspace_id, entry_id)
        if entry is None:
            raise NotFound("suppression entry not found")
        if entry.value is None:
            # Only a hash is left: the person asked to be erased and never mailed again.
            raise Conflict("an erased person's suppression cannot be lifted")
        await self.suppressions.delete(entry)
