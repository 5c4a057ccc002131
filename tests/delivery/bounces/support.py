"""A committed world with a sent campaign, and a snapshot of everything bounces may change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from maily.kit.db import transaction
from maily.models import Delivery
from tests.campaigns.support import World

# Tables a bounce or complaint can change, and how to read one workspace's rows.
_WATCHED = {
    "deliveries": "SELECT id, status, last_code, last_detail FROM deliveries",
    "contacts": "SELECT id, status FROM contacts",
    "suppressions": "SELECT kind, value, reason FROM suppressions",
    "bounces": "SELECT delivery_id, kind, source, event_key, effect FROM bounces",
    "list_memberships": "SELECT list_id, contact_id, status FROM list_memberships",
    "consent_records": "SELECT contact_id, action, channel FROM consent_records",
    "audit_log": "SELECT action, target_id FROM audit_log",
}


async def sent_campaign(world: World, names: Sequence[str]) -> dict[str, Delivery]:
    """A campaign to `names` whose every message was accepted; each delivery's
    provider message id is `pm-<delivery id>`."""
    await world.add_contacts(names, lists=["news"])
    campaign_id = await world.campaign()
    await world.execute(
        "UPDATE deliveries SET status = 'sent', sent_at = now(), "
        "provider_message_id = 'pm-' || id::text WHERE workspace_id = :w AND campaign_id = :c",
        c=campaign_id,
    )
    rows = await world.rows(campaign_id)
    return {name: rows[name] for name in names}


async def snapshot(world: World) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    async with transaction(world.sessionmaker) as session:
        for table, query in _WATCHED.items():
            result = await session.execute(
                text(f"{query} WHERE workspace_id = :w ORDER BY 1, 2"), {"w": world.workspace_id}
            )
            found[table] = [tuple(row) for row in result]
    return found


async def one(world: World, sql: str, **params: Any) -> Any:
    async with transaction(world.sessionmaker) as session:
        return (await session.execute(text(sql), {"w": world.workspace_id, **params})).scalar()


async def contact_status(world: World, name: str) -> str:
    return str(
        await one(
            world,
            "SELECT status FROM contacts WHERE workspace_id = :w AND id = :c",
            c=world.contacts[name],
        )
    )


async def suppression_reason(world: World, email: str) -> str | None:
    found = await one(
        world,
        "SELECT reason FROM suppressions WHERE workspace_id = :w AND value = :e",
        e=email,
    )
    return str(found) if found is not None else None


async def delivery_status(world: World, delivery_id: uuid.UUID) -> str:
    return str(
        await one(
            world,
            "SELECT status FROM deliveries WHERE workspace_id = :w AND id = :d",
            d=delivery_id,
        )
    )
