"""SQL predicates every audience is built from, so no audience includes a suppressed address."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from maily.models import Contact, ListMembership, SuppressionEntry


def is_suppressed() -> ColumnElement[bool]:
    """True for a contact whose address, or whose address's domain, is suppressed."""
    return exists().where(
        SuppressionEntry.workspace_id == Contact.workspace_id,
        or_(
            and_(
                SuppressionEntry.kind == "address",
                SuppressionEntry.value_hash == Contact.email_hash,
            ),
            and_(
                SuppressionEntry.kind == "domain",
                SuppressionEntry.value_hash == func.maily_sha256_text(Contact.domain),
            ),
        ),
    )


def sendable() -> ColumnElement[bool]:
    """A contact Maily may mail at all: subscribed and not suppressed."""
    return and_(Contact.status == "subscribed", ~is_suppressed())


def subscribed_to(list_ids: list[uuid.UUID]) -> ColumnElement[bool]:
    return exists().where(
        ListMembership.workspace_id == Contact.workspace_id,
        ListMembership.contact_id == Contact.id,
        ListMembership.list_id.in_(list_ids),
        ListMembership.status == "subscribed",
    )


def contacts_in_workspace(workspace_id: uuid.UUID) -> ColumnElement[bool]:
    return Contact.workspace_id == workspace_id


__all__ = ["contacts_in_workspace", "is_suppressed", "select", "sendable", "subscribed_to"]
