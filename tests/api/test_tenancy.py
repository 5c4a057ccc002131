"""Generated from the route table: every endpoint refuses strangers and other workspaces.

For each route the suite calls it (a) with no credentials, (b) as workspace B's owner
and B's API key with workspace A's ids, and (c) where a route takes object ids, inside
B's own workspace with A's object ids. Nothing of A may be read or changed."""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from maily.auth.permissions import CATALOGUE
from maily.kit.db import AsyncSession
from maily.models import Base
from tests.api.openapi_examples import request_body
from tests.conftest import Account, sign_up

# Routes that answer without credentials, on purpose. Domains add theirs in a
# `tenancy_seed.py` beside their tests (PUBLIC_ROUTES), with SEEDERS for their ids.
PUBLIC = {
    ("POST", "/api/v1/auth/signup"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/invitations/accept"),
}
# Routes about the caller, not a workspace: they cannot name another workspace's data.
ACCOUNT_SCOPED = {
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/me/password"),
    ("POST", "/api/v1/me/sign-out-everywhere"),
    ("GET", "/api/v1/permissions"),
    ("GET", "/api/v1/workspaces"),
    ("POST", "/api/v1/workspaces"),
}


@dataclass
class Tenant:
    account: Account
    api_key: str
    ids: dict[str, uuid.UUID]


# How to find a real object of the tenant for each path parameter. A new route with
# an id parameter must be registered here, or the suite fails (see below).
Seeder = Callable[[httpx.AsyncClient, Account], Awaitable[dict[str, uuid.UUID]]]


async def _seed_team(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    base = f"/api/v1/workspaces/{owner.workspace_id}"
    key = await client.post(
        f"{base}/api-keys",
        headers=owner.headers,
        json={"name": "seed", "permissions": ["workspace:read"]},
    )
    invitation = await client.post(
        f"{base}/invitations",
        headers=owner.headers,
        json={"email": f"i-{uuid.uuid4().hex[:6]}@example.com"},
    )
    return {
        "workspace_id": owner.workspace_id,
        "user_id": owner.user_id,
        "api_key_id": uuid.UUID(key.json()["id"]),
        "invitation_id": uuid.UUID(invitation.json()["id"]),
    }


def _domain_seeds() -> tuple[list[Seeder], set[tuple[str, str]]]:
    """Collect SEEDERS and PUBLIC_ROUTES from every tests/**/tenancy_seed.py."""
    seeders: list[Seeder] = [_seed_team]
    public: set[tuple[str, str]] = set()
    root = Path(__file__).resolve().parents[1]
    for path in sorted(root.rglob("tenancy_seed.py")):
        module_name = ".".join(("tests", *path.relative_to(root).with_suffix("").parts))
        module = importlib.import_module(module_name)
        seeders.extend(getattr(module, "SEEDERS", []))
        public |= set(getattr(module, "PUBLIC_ROUTES", set()))
    return seeders, public


SEEDERS, _DOMAIN_PUBLIC = _domain_seeds()
PUBLIC |= _DOMAIN_PUBLIC


async def make_tenant(client: httpx.AsyncClient) -> Tenant:
    account = await sign_up(client)
    ids: dict[str, uuid.UUID] = {}
    for seeder in SEEDERS:
        ids.update(await seeder(client, account))
    key = await client.post(
        f"/api/v1/workspaces/{account.workspace_id}/api-keys",
        headers=account.headers,
        json={"name": "all", "permissions": sorted(CATALOGUE)},
    )
    assert key.status_code == 201, key.text
    return Tenant(account, key.json()["key"], ids)


def api_routes(app: Any) -> list[tuple[str, str]]:
    """Every operation of the OpenAPI document (the route table as clients see it)."""
    routes = sorted(
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    )
    assert len(routes) >= 17, "the OpenAPI document lost routes"
    return routes


def fill(path: str, ids: dict[str, uuid.UUID]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ids:
            pytest.fail(
                f"{path}: no seeded object for path parameter {{{name}}}; add one to SEEDERS"
            )
        return str(ids[name])

    return re.sub(r"\{(\w+)\}", one, path)


async def call(
    client: httpx.AsyncClient,
    spec: dict[str, Any],
    method: str,
    path: str,
    url: str,
    headers: dict[str, str],
) -> httpx.Response:
    body = request_body(spec, method, path)
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs["json" if body[0] == "json" else "data"] = body[1]
    return await client.request(method, url, headers=headers, **kwargs)


async def snapshot(session: AsyncSession, tenant: Tenant) -> dict[str, list[Any]]:
    """Every row of the tenant's workspace, and its members' accounts."""
    rows: dict[str, list[Any]] = {}
    workspace_id = tenant.account.workspace_id
    for table in Base.metadata.sorted_tables:
        if "workspace_id" in table.c:
            where, params = "workspace_id = :w", {"w": workspace_id}
        elif table.name == "workspaces":
            where, params = "id = :w", {"w": workspace_id}
        elif table.name == "users":
            where = "id IN (SELECT user_id FROM memberships WHERE workspace_id = :w)"
            params = {"w": workspace_id}
        else:
            continue
        result = await session.execute(
            text(f"SELECT * FROM {table.name} WHERE {where} ORDER BY 1, 2"),
            params,
        )
        rows[table.name] = [tuple(r) for r in result]
    return rows


@pytest.fixture
async def tenants(client: httpx.AsyncClient) -> tuple[Tenant, Tenant]:
    return await make_tenant(client), await make_tenant(client)


async def test_every_route_is_classified(app: Any) -> None:
    for method, path in api_routes(app):
        assert (method, path) in PUBLIC | ACCOUNT_SCOPED or "{workspace_id}" in path, (
            f"{method} {path} is neither public, account-scoped nor under /workspaces/{{workspace_id}}"
        )


async def test_unauthenticated_calls_are_refused(
    app: Any, client: httpx.AsyncClient, tenants: tuple[Tenant, Tenant]
) -> None:
    victim, _ = tenants
    spec = app.openapi()
    checked = 0
    for method, path in api_routes(app):
        if (method, path) in PUBLIC:
            continue
        url = fill(path, victim.ids)
        for headers in (
            {},
            {"Authorization": "Bearer forged"},
            {"Authorization": "Bearer mly_forged"},
        ):
            response = await call(client, spec, method, path, url, headers)
            assert response.status_code == 401, (
                f"{method} {path} with {headers}: {response.status_code}"
            )
        checked += 1
    assert checked >= 12


async def test_other_workspace_can_neither_read_nor_change(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, tenants: tuple[Tenant, Tenant]
) -> None:
    victim, attacker = tenants
    spec = app.openapi()
    routes = [(m, p) for m, p in api_routes(app) if "{workspace_id}" in p]
    assert routes

    # The seeded ids are real: the victim itself can read every GET route with them.
    for method, path in routes:
        if method == "GET":
            own = await client.get(fill(path, victim.ids), headers=victim.account.headers)
            assert own.status_code == 200, f"control: {path} gave {own.status_code}"

    before = await snapshot(session, victim)
    attackers = {
        "B's owner": attacker.account.headers,
        "B's API key": {"Authorization": f"Bearer {attacker.api_key}"},
    }
    for who, headers in attackers.items():
        for method, path in routes:
            # (b) A's workspace id and A's object ids.
            url = fill(path, victim.ids)
            response = await call(client, spec, method, path, url, headers)
            assert response.status_code == 404, (
                f"{who}: {method} {url} gave {response.status_code}: {response.text[:200]}"
            )
            # (c) B's own workspace id with A's object ids.
            if len(re.findall(r"\{\w+\}", path)) > 1:
                mixed = dict(victim.ids, workspace_id=attacker.account.workspace_id)
                url = fill(path, mixed)
                response = await call(client, spec, method, path, url, headers)
                assert response.status_code in (404, 422), (
                    f"{who}: {method} {url} gave {response.status_code}: {response.text[:200]}"
                )
    assert await snapshot(session, victim) == before
