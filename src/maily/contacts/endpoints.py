"""HTTP routes for contacts, custom fields, lists, bulk actions and suppressions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from maily.api.deps import SessionDep
from maily.contacts import schemas
from maily.contacts.auth import ContactsRead, ContactsWrite
from maily.contacts.service import ContactService
from maily.kit.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}")
Paging = Annotated[PageParams, Depends(page_params)]


# -- custom fields ----------------------------------------------------------------


@router.get("/fields", operation_id="custom_fields_list", tags=["contacts"])
async def list_fields(ctx: ContactsRead, session: SessionDep) -> list[schemas.CustomFieldOut]:
    fields = await ContactService(session).fields.list(ctx.workspace_id)
    return [schemas.CustomFieldOut.model_validate(f) for f in fields]


@router.post(
    "/fields",
    operation_id="custom_fields_create",
    status_code=status.HTTP_201_CREATED,
    tags=["contacts"],
)
async def create_field(
    body: schemas.CustomFieldCreate, ctx: ContactsWrite, session: SessionDep
) -> schemas.CustomFieldOut:
    return schemas.CustomFieldOut.model_validate(
        await ContactService(session).create_field(ctx, body)
    )


@router.patch("/fields/{field_id}", operation_id="custom_fields_update", tags=["contacts"])
async def update_field(
    field_id: uuid.UUID, body: schemas.CustomFieldUpdate, ctx: ContactsWrite, session: SessionDep
) -> schemas.CustomFieldOut:
    return schemas.CustomFieldOut.model_validate(
        await ContactService(session).update_field(ctx, field_id, body)
    )


@router.delete(
    "/fields/{field_id}",
    operation_id="custom_fields_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["contacts"],
)
async def delete_field(field_id: uuid.UUID, ctx: ContactsWrite, session: SessionDep) -> None:
    """Delete a field and its value on every contact."""
    await ContactService(session).delete_field(ctx, field_id)


# -- lists ------------------------------------------------------------------------


@router.get("/lists", operation_id="lists_list", tags=["lists"])
async def list_lists(
    ctx: ContactsRead, paging: Paging, session: SessionDep
) -> Page[schemas.ListWithCounts]:
    service = ContactService(session)
    rows = await service.lists.list(ctx.workspace_id, paging)
    counts = await service.lists.counts(ctx.workspace_id, [r.id for r in rows])
    items = [
        schemas.ListWithCounts(
            **schemas.ListOut.model_validate(r).model_dump(), **counts.get(r.id, {})
        )
        for r in rows
    ]
    return make_page(items, paging, lambda item: item.id)


@router.post(
    "/lists", operation_id="lists_create", status_code=status.HTTP_201_CREATED, tags=["lists"]
)
async def create_list(
    body: schemas.ListCreate, ctx: ContactsWrite, session: SessionDep
) -> schemas.ListOut:
    return schemas.ListOut.model_validate(await ContactService(session).create_list(ctx, body))


@router.get("/lists/{list_id}", operation_id="lists_get", tags=["lists"])
async def get_list(
    list_id: uuid.UUID, ctx: ContactsRead, session: SessionDep
) -> schemas.ListWithCounts:
    service = ContactService(session)
    mailing_list = await service.get_list(ctx, list_id)
    counts = await service.lists.counts(ctx.workspace_id, [list_id])
    return schemas.ListWithCounts(
        **schemas.ListOut.model_validate(mailing_list).model_dump(), **counts.get(list_id, {})
    )


@router.patch("/lists/{list_id}", operation_id="lists_update", tags=["lists"])
async def update_list(
    list_id: uuid.UUID, body: schemas.ListUpdate, ctx: ContactsWrite, session: SessionDep
) -> schemas.ListOut:
    return schemas.ListOut.model_validate(
        await ContactService(session).update_list(ctx, list_id, body)
    )


@router.delete(
    "/lists/{list_id}",
    operation_id="lists_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["lists"],
)
async def delete_list(list_id: uuid.UUID, ctx: ContactsWrite, session: SessionDep) -> None:
    """Delete a list and its memberships; the contacts stay."""
    await ContactService(session).delete_list(ctx, list_id)


# -- contacts ---------------------------------------------------------------------


@router.get("/contacts", operation_id="contacts_list", tags=["contacts"])
async def list_contacts(
    ctx: ContactsRead,
    paging: Paging,
    session: SessionDep,
    q: Annotated[
        str | None, Query(max_length=320, description="Address prefix or part of a name")
    ] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    list_id: uuid.UUID | None = None,
    contact_status: Annotated[schemas.ContactStatus | None, Query(alias="status")] = None,
    field: Annotated[str | None, Query(max_length=64, description="Custom field key")] = None,
    value: Annotated[str | None, Query(max_length=2000, description="Custom field value")] = None,
) -> Page[schemas.ContactOut]:
    """Search contacts by address prefix or name, tag, list, status or a custom field."""
    search = schemas.ContactSearch(
        q=q, tag=tag, list_id=list_id, status=contact_status, field=field, value=value
    )
    rows = await ContactService(session).contacts.search(ctx.workspace_id, search, paging)
    return make_page([schemas.ContactOut.model_validate(r) for r in rows], paging, lambda c: c.id)


@router.post(
    "/contacts",
    operation_id="contacts_create",
    status_code=status.HTTP_201_CREATED,
    tags=["contacts"],
)
async def create_contact(
    body: schemas.ContactCreate, ctx: ContactsWrite, session: SessionDep
) -> schemas.ContactDetail:
    service = ContactService(session)
    return await service.detail(ctx, await service.create_contact(ctx, body))


@router.get("/contacts/{contact_id}", operation_id="contacts_get", tags=["contacts"])
async def get_contact(
    contact_id: uuid.UUID, ctx: ContactsRead, session: SessionDep
) -> schemas.ContactDetail:
    service = ContactService(session)
    return await service.detail(ctx, await service.get_contact(ctx, contact_id))


@router.patch("/contacts/{contact_id}", operation_id="contacts_update", tags=["contacts"])
async def update_contact(
    contact_id: uuid.UUID, body: schemas.ContactUpdate, ctx: ContactsWrite, session: SessionDep
) -> schemas.ContactDetail:
    service = ContactService(session)
    return await service.detail(ctx, await service.update_contact(ctx, contact_id, body))


@router.delete(
    "/contacts/{contact_id}",
    operation_id="contacts_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["contacts"],
)
async def delete_contact(contact_id: uuid.UUID, ctx: ContactsWrite, session: SessionDep) -> None:
    """Delete a contact. To also forget the person (GDPR), erase instead."""
    await ContactService(session).delete_contact(ctx, contact_id)


@router.get("/contacts/{contact_id}/consents", operation_id="contacts_consents", tags=["contacts"])
async def contact_consents(
    contact_id: uuid.UUID, ctx: ContactsRead, paging: Paging, session: SessionDep
) -> Page[schemas.ConsentOut]:
    """The contact's consent trail: subscriptions, confirmations and unsubscribes."""
    service = ContactService(session)
    contact = await service.get_contact(ctx, contact_id)
    rows = await service.contacts.consents(ctx.workspace_id, contact.id, paging)
    return make_page([schemas.ConsentOut.model_validate(r) for r in rows], paging, lambda c: c.id)


@router.post("/contacts/bulk", operation_id="contacts_bulk", tags=["contacts"])
async def bulk_action(
    body: schemas.BulkAction, ctx: ContactsWrite, session: SessionDep
) -> schemas.BulkResult:
    """Tag, untag, add to or remove from a list, unsubscribe or delete a selection of
    contacts, a saved segment, or all of them."""
    affected = await ContactService(session).bulk(ctx, body)
    return schemas.BulkResult(action=body.action, affected=affected)


# -- suppression ------------------------------------------------------------------


@router.get("/suppressions", operation_id="suppressions_list", tags=["suppression"])
async def list_suppressions(
    ctx: ContactsRead,
    paging: Paging,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=320, description="Value prefix")] = None,
) -> Page[schemas.SuppressionOut]:
    rows = await ContactService(session).suppressions.list(ctx.workspace_id, paging, q)
    return make_page(
        [schemas.SuppressionOut.model_validate(r) for r in rows], paging, lambda s: s.id
    )


@router.post(
    "/suppressions",
    operation_id="suppressions_create",
    status_code=status.HTTP_201_CREATED,
    tags=["suppression"],
)
async def suppress(
    body: schemas.SuppressionCreate, ctx: ContactsWrite, session: SessionDep
) -> schemas.SuppressionOut:
    """Never mail an address, or any address at a domain, again."""
    return schemas.SuppressionOut.model_validate(await ContactService(session).suppress(ctx, body))


@router.delete(
    "/suppressions/{suppression_id}",
    operation_id="suppressions_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["suppression"],
)
async def unsuppress(suppression_id: uuid.UUID, ctx: ContactsWrite, session: SessionDep) -> None:
    await ContactService(session).unsuppress(ctx, suppression_id)
