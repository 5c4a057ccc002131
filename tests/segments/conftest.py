"""A small audience in two workspaces that look alike, for segment tests.

Workspace B holds the same contacts (same addresses, fields, tags, engagement) as A,
so any rule that leaked across workspaces would count B's contacts too."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from maily.contacts.fields import FieldType
from maily.kit.db import AsyncSession
from maily.models import (
    Contact,
    CustomField,
    Event,
    ListMembership,
    MailingList,
    SuppressionEntry,
    Workspace,
)
from maily.segments.compiler import segment_predicate
from maily.segments.rules import SegmentRules

NOW = datetime.now(UTC)

FIELDS: dict[str, tuple[FieldType, tuple[str, ...]]] = {
    "plan": (FieldType.choice, ("free", "pro", "team")),
    "age": (FieldType.number, ()),
    "score": (FieldType.number, ()),
    "birthday": (FieldType.date, ()),
    "renewal": (FieldType.date, ()),
    "newsletter": (FieldType.boolean, ()),
    "city": (FieldType.text, ()),
}
FIELD_TYPES: dict[str, FieldType] = {key: spec[0] for key, spec in FIELDS.items()}

# name -> contact attributes (the address is <name>@<domain>)
CONTACTS: dict[str, dict[str, Any]] = {
    "ann": {
        "domain": "acme.com",
        "first_name": "Ann",
        "last_name": "Lee",
        "status": "subscribed",
        "source": "api",
        "timezone": "Europe/Paris",
        "locale": "fr",
        "tags": ["vip", "beta"],
        "fields": {
            "plan": "pro",
            "age": 34,
            "score": 7.5,
            "birthday": "1990-05-01",
            "renewal": (NOW + timedelta(days=20)).date().isoformat(),
            "newsletter": True,
            "city": "Paris",
        },
        "created_days_ago": 400,
    },
    "bob": {
        "domain": "example.org",
        "first_name": "Bob",
        "last_name": "",
        "status": "unsubscribed",
        "source": "import",
        "timezone": None,
        "locale": None,
        "tags": ["beta"],
        "fields": {
            "plan": "free",
            "age": 19,
            "birthday": "2005-12-24",
            "renewal": (NOW - timedelta(days=3)).date().isoformat(),
            "newsletter": False,
            "city": "Berlin_1%",
        },
        "created_days_ago": 10,
    },
    "cat": {
        "domain": "acme.com",
        "first_name": "Cat",
        "last_name": "O'Neil",
        "status": "bounced",
        "source": "form",
        "timezone": "America/New_York",
        "locale": "en-US",
        "tags": [],
        # Values that do not fit their field's type must never break a query.
        "fields": {"plan": "team", "age": "old", "birthday": "1999-02-30x", "city": ""},
        "created_days_ago": 40,
    },
    "dan": {
        "domain": "sub.acme.com",
        "first_name": "dan",
        "last_name": "Brown",
        "status": "subscribed",
        "source": "admin",
        "timezone": None,
        "locale": "en",
        "tags": ["vip"],
        "fields": {"renewal": (NOW - timedelta(days=100)).date().isoformat()},
        "created_days_ago": 1,
    },
    "eve": {
        "domain": "example.org",
        "first_name": "Eve",
        "last_name": "Adams",
        "status": "complained",
        "source": "api",
        "timezone": "Europe/Berlin",
        "locale": "de",
        "tags": ["Vip"],
        "fields": {"newsletter": True, "age": 60, "score": 100, "city": "paris"},
        "created_days_ago": 2000,
    },
}
EVERYONE = frozenset(CONTACTS)


@dataclass
class Tenant:
    id: uuid.UUID
    contacts: dict[str, uuid.UUID] = field(default_factory=dict)
    lists: dict[str, uuid.UUID] = field(default_factory=dict)


@dataclass
class Audience:
    a: Tenant
    b: Tenant
    campaigns: dict[str, uuid.UUID]


def email_of(name: str) -> str:
    return f"{name}@{CONTACTS[name]['domain']}"


EVENTS = [
    ("ann", "spring", "sent", 5),
    ("ann", "spring", "open", 4),
    ("ann", "spring", "click", 4),
    ("bob", "spring", "sent", 5),
    ("bob", "winter", "open", 60),
    ("cat", "winter", "sent", 60),
    ("eve", "spring", "sent", 5),
    ("eve", "winter", "open", 400),
    ("eve", None, "open", 1000),  # before the first monthly partition: the default one
]


LATEST_COLUMN = {"sent": "last_sent_at", "open": "last_open_at", "click": "last_click_at"}


async def populate(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    campaigns: dict[str, uuid.UUID] | None = None,
) -> Tenant:
    campaigns = campaigns or {"spring": uuid.uuid4(), "winter": uuid.uuid4()}
    ws = Tenant(workspace_id)
    for key, (type_, choices) in FIELDS.items():
        session.add(
            CustomField(
                workspace_id=workspace_id, key=key, label=key, type=type_, choices=list(choices)
            )
        )
    # What the analytics service keeps on each contact: the latest event of each kind.
    latest: dict[str, dict[str, datetime]] = {}
    for name, _, type_, days_ago in EVENTS:
        column, occurred = LATEST_COLUMN[type_], NOW - timedelta(days=days_ago)
        seen = latest.setdefault(name, {})
        seen[column] = max(occurred, seen.get(column, occurred))
    for name, attrs in CONTACTS.items():
        contact = Contact(
            workspace_id=workspace_id,
            email=email_of(name),
            first_name=attrs["first_name"],
            last_name=attrs["last_name"],
            status=attrs["status"],
            source=attrs["source"],
            timezone=attrs["timezone"],
            locale=attrs["locale"],
            tags=attrs["tags"],
            fields=attrs["fields"],
            **latest.get(name, {}),
            created_at=NOW - timedelta(days=attrs["created_days_ago"]),
            updated_at=NOW - timedelta(days=attrs["created_days_ago"]),
        )
        session.add(contact)
        await session.flush()
        ws.contacts[name] = contact.id

    for name in ("newsletter", "empty"):
        mailing_list = MailingList(workspace_id=workspace_id, name=name)
        session.add(mailing_list)
        await session.flush()
        ws.lists[name] = mailing_list.id
    for name, status in (("ann", "subscribed"), ("bob", "unsubscribed"), ("cat", "unconfirmed")):
        session.add(
            ListMembership(
                workspace_id=workspace_id,
                list_id=ws.lists["newsletter"],
                contact_id=ws.contacts[name],
                status=status,
            )
        )
    for name, campaign, type_, days_ago in EVENTS:
        session.add(
            Event(
                workspace_id=workspace_id,
                occurred_at=NOW - timedelta(days=days_ago),
                contact_id=ws.contacts[name],
                campaign_id=campaigns[campaign] if campaign else None,
                type=type_,
            )
        )
    address = email_of("dan").encode()
    session.add(
        SuppressionEntry(
            workspace_id=workspace_id,
            kind="address",
            value=email_of("dan"),
            value_hash=hashlib.sha256(address).digest(),
            reason="manual",
        )
    )
    await session.flush()
    return ws


async def new_workspace(session: AsyncSession) -> uuid.UUID:
    workspace = Workspace(name="Look-alike", slug=f"ws-{uuid.uuid4().hex[:12]}")
    session.add(workspace)
    await session.flush()
    return workspace.id


@pytest.fixture
async def audience(session: AsyncSession) -> Audience:
    campaigns = {"spring": uuid.uuid4(), "winter": uuid.uuid4()}
    a = await populate(session, await new_workspace(session), campaigns)
    b = await populate(session, await new_workspace(session), campaigns)
    return Audience(a, b, campaigns)


async def matching(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    rules: Any,
    fields: dict[str, FieldType] | None = None,
) -> set[str]:
    """Names of the contacts `rules` match; fails if any row is from another workspace."""
    parsed = rules if isinstance(rules, SegmentRules) else SegmentRules.model_validate(rules)
    predicate = segment_predicate(workspace_id, parsed, FIELD_TYPES if fields is None else fields)
    rows: Sequence[Any] = (
        await session.execute(select(Contact.email, Contact.workspace_id).where(predicate))
    ).all()
    assert {row.workspace_id for row in rows} <= {workspace_id}, "another workspace leaked in"
    names = [row.email.split("@")[0] for row in rows]
    assert len(names) == len(set(names))
    return set(names)
