"""An import of the tenant's, for the cross-workspace suite."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Account
from tests.contacts.imports.support import csv_bytes, uploaded


async def seed_import(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    content = csv_bytes([["email", "first_name"], ["seed@example.com", "Seed"]])
    created = await uploaded(client, owner, content)
    return {"import_id": uuid.UUID(created["id"])}


SEEDERS = [seed_import]
