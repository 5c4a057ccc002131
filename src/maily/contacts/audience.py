"""SQL predicates every audience is built from, so no audience includes a suppressed address."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, exists, or_, select

from maily.models import Contact, ListMembership, SuppressionEntry


def is_suppressed(workspace_id: uuid.UUID) -> ColumnElement[bool]:
    """True for a contact of the workspace whose address, or whose address's domain,
    is suppressed.

    Two uncorrelated IN lists rather than one correlated EXISTS: PostgreSQL hashes
    each list once per query, so checking a million contacts costs a hash probe each
    instead of two index probes (and a digest of the domain) each. Domain entries
    always keep their plain value (a domain is not personal data); address entries
    are matched by digest, which is all an erased person leaves behind."""
    addresses = select(SuppressionEntry.value_hash).where(
        SuppressionEntry.workspace_id == workspace_id, SuppressionEntry.kind == "address"
    )
    domains = select(SuppressionEntry.value).where(
        SuppressionEntry.workspace_id == workspace_id,
        SuppressionEntry.kind == "domain",
        SuppressionEntry.value.is_not(None),
    )
    return or_(Contact.email_hash.in_(addresses), Contact.domain.in_(domains))


def is_suppressed_each() -> ColumnElement[bool]:
    """The same test, correlated to each contact's own workspace: for queries that
    span workspaces (the sender's lease) or look at a handful of rows, where two
    index probes per contact beat hashing every workspace's lists."""
    return exists().where(
        SuppressionEntry.workspace_id == Contact.workspace_id,
        or_(
            and_(
                SuppressionEntry.kind == "address",
                SuppressionEntry.value_hash == Contact.email_hash,
            ),
            and_(
                SuppressionEntry.kind == "domain",
                SuppressionEntry.value == Contact.domain,
            ),
        ),
    )


def sendable(workspace_id: uuid.UUID | None) -> ColumnElement[bool]:
    """A contact Maily may mail at all: subscribed and not suppressed. Pass the
    workspace when the query covers one; None checks each row in its own workspace."""
    suppressed = is_suppressed_each() if workspace_id is None else is_suppressed(workspace_id)
    return and_(Contact.status == "subscribed", ~suppressed)


def subscribed_to(list_ids: list[uuid.UUID]) -> ColumnElement[bool]:
    return exists().where(
        ListMembership.workspace_id == Contact.workspace_id,
        ListMembership.contact_id == Contact.id,
        ListMembership.list_id.in_(list_ids),
        ListMembership.status == "subscribed",
    )


def contacts_in_workspace(workspace_id: uuid.UUID) -> ColumnElement[bool]:
    return Contact.workspace_id == workspace_id


__all__ = [
    "contacts_in_workspace",
    "is_suppressed",
    "is_suppressed_each",
    "select",
    "sendable",
    "subscribed_to",
]
