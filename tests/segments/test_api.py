"""Saved segments and live counts over HTTP: CRUD, counts, 422 paths, permissions."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from maily.kit.db import AsyncSession
from maily.kit.errors import NotFound
from maily.models import Contact, CustomField
from maily.segments.compiler import SegmentOutOfDate, load_segment_predicate
from maily.segments.rules import MAX_DEPTH, MAX_NODES
from tests.conftest import Account, sign_up
from tests.segments.conftest import Tenant, populate


def url(account: Account, suffix: str = "") -> str:
    return f"/api/v1/workspaces/{account.workspace_id}/segments{suffix}"


@pytest.fixture
async def tenant(session: AsyncSession, account: Account) -> Tenant:
    """The account's workspace, filled with the shared test audience."""
    return await populate(session, account.workspace_id)


SUBSCRIBED = {"all": [{"field": "status", "op": "eq", "value": "subscribed"}]}


async def test_segment_crud(client: httpx.AsyncClient, account: Account, tenant: Tenant) -> None:
    rules = {
        "all": [
            {"field": "email", "op": "ends_with", "value": "@acme.com"},
            {"custom_field": "plan", "op": "in", "value": ["pro", "team"]},
            {"list": str(tenant.lists["newsletter"]), "status": "subscribed"},
            {"event": "opened", "within_days": 30},
        ]
    }
    created = await client.post(
        url(account), headers=account.headers, json={"name": " Engaged pros ", "rules": rules}
    )
    assert created.status_code == 201, created.text
    segment = created.json()
    assert segment["name"] == "Engaged pros"
    assert segment["description"] == ""
    assert segment["rules"]["all"][0] == {
        "field": "email",
        "op": "ends_with",
        "value": "@acme.com",
    }
    assert segment["rules"]["all"][2]["list"] == str(tenant.lists["newsletter"])
    segment_id = segment["id"]

    fetched = await client.get(url(account, f"/{segment_id}"), headers=account.headers)
    assert fetched.status_code == 200
    assert fetched.json() == segment

    renamed = await client.patch(
        url(account, f"/{segment_id}"),
        headers=account.headers,
        json={"name": "Renamed", "description": "Opened lately"},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["rules"] == segment["rules"]
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Renamed", "Opened lately")

    changed = await client.patch(
        url(account, f"/{segment_id}"), headers=account.headers, json={"rules": SUBSCRIBED}
    )
    assert changed.status_code == 200
    assert changed.json()["rules"] == SUBSCRIBED
    assert changed.json()["name"] == "Renamed"

    deleted = await client.delete(url(account, f"/{segment_id}"), headers=account.headers)
    assert deleted.status_code == 204
    for response in (
        await client.get(url(account, f"/{segment_id}"), headers=account.headers),
        await client.delete(url(account, f"/{segment_id}"), headers=account.headers),
        await client.get(url(account, f"/{segment_id}/count"), headers=account.headers),
        await client.patch(url(account, f"/{segment_id}"), headers=account.headers, json={}),
    ):
        assert response.status_code == 404


async def test_list_pages_with_a_cursor(client: httpx.AsyncClient, account: Account) -> None:
    ids = []
    for n in range(5):
        created = await client.post(
            url(account), headers=account.headers, json={"name": f"s{n}", "rules": SUBSCRIBED}
        )
        ids.append(created.json()["id"])
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(url(account), headers=account.headers, params=params)).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


async def test_counts(
    client: httpx.AsyncClient, session: AsyncSession, account: Account, tenant: Tenant
) -> None:
    # A look-alike workspace with the same contacts must not change A's counts.
    other = await sign_up(client)
    await populate(session, other.workspace_id)

    async def count(rules: Any) -> dict[str, int]:
        response = await client.post(
            url(account, "/count"), headers=account.headers, json={"rules": rules}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    # Only ann is sendable: dan is subscribed but suppressed, the rest are not subscribed.
    assert await count({"all": []}) == {"count": 5, "sendable": 1}
    assert await count(SUBSCRIBED) == {"count": 2, "sendable": 1}
    assert await count({"field": "tags", "op": "has", "value": "vip"}) == {
        "count": 2,
        "sendable": 1,
    }
    assert await count({"event": "opened", "op": "did_not"}) == {"count": 2, "sendable": 0}

    created = await client.post(
        url(account), headers=account.headers, json={"name": "Subscribed", "rules": SUBSCRIBED}
    )
    saved = await client.get(
        url(account, f"/{created.json()['id']}/count"), headers=account.headers
    )
    assert saved.status_code == 200
    assert saved.json() == {"count": 2, "sendable": 1}


def f(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op} | ({"value": value} if value is not None else {})


def c(key: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"custom_field": key, "op": op} | ({"value": value} if value is not None else {})


def nested(depth: int) -> dict[str, Any]:
    rules: dict[str, Any] = f("email", "eq", "a@b.c")
    for level in range(depth):
        rules = {"all" if level % 2 else "any": [rules]}
    return rules


OK = f("status", "eq", "subscribed")
# (rules, path of the bad node, error type): refused by the rule language itself.
MALFORMED: list[tuple[Any, str, str]] = [
    (
        {"all": [OK, OK, {"any": [f("created_at", "before", "yesterday")]}]},
        "rules.all[2].any[0].value",
        "invalid_value",
    ),
    ({"all": [OK, {"nonsense": 1}]}, "rules.all[1]", "rule_kind"),
    ({"all": ["status"]}, "rules.all[0]", "rule_kind"),
    ({"any": [f("status", "contains", "sub")]}, "rules.any[0].op", "operator_not_allowed"),
    ({"all": [f("status", "eq", "gone")]}, "rules.all[0].value", "invalid_value"),
    ({"all": [f("emails", "eq", "x")]}, "rules.all[0].field", "literal_error"),
    ({"all": [f("email", "eq", "x") | {"extra": 1}]}, "rules.all[0].extra", "extra_forbidden"),
    ({"all": [f("email", "eq")]}, "rules.all[0].value", "invalid_value"),
    ({"all": [f("email", "is_set", "x")]}, "rules.all[0].value", "invalid_value"),
    ({"all": [f("email", "in", ["a@b.c", 7])]}, "rules.all[0].value", "invalid_value"),
    ({"all": [f("tags", "has_any", [])]}, "rules.all[0].value", "invalid_value"),
    ({"all": [f("created_at", "within_last_days", -1)]}, "rules.all[0].value", "invalid_value"),
    ({"all": [f("created_at", "between", ["2024-05-02", "2024-05-01"])]}, "rules.all[0].value", "invalid_value"),
    ({"any": [{"all": [{"event": "opened", "within_days": 0}]}]}, "rules.any[0].all[0].within_days", "greater_than_equal"),
    ({"all": [{"event": "bounced"}]}, "rules.all[0].event", "literal_error"),
    ({"all": [{"list": "not-a-uuid"}]}, "rules.all[0].list", "uuid_parsing"),
    ({"all": [c("plan", "has", "pro")]}, "rules.all[0].op", "operator_not_allowed"),
    ({"all": [c("plan", "eq", {"a": 1})]}, "rules.all[0].value", "invalid_value"),
    ({"all": [f("email", "eq", "a\u0000b")]}, "rules.all[0].value", "value_error"),
    (nested(MAX_DEPTH + 1), "rules", "rules_too_deep"),
    ({"any": [OK] * MAX_NODES}, "rules", "rules_too_large"),
]  # fmt: skip


@pytest.mark.parametrize(("rules", "path", "kind"), MALFORMED)
async def test_malformed_rules_name_the_bad_node(
    client: httpx.AsyncClient, account: Account, rules: Any, path: str, kind: str
) -> None:
    for method, target, body in (
        ("POST", url(account, "/count"), {"rules": rules}),
        ("POST", url(account), {"name": "x", "rules": rules}),
    ):
        response = await client.request(method, target, headers=account.headers, json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert [(d["path"], d["type"]) for d in error["details"]] == [(path, kind)]
        detail = error["details"][0]
        assert detail["loc"][0] == "body"
        assert not any(part.startswith("rule:") for part in detail["loc"])


async def test_rules_that_do_not_fit_the_workspace_name_the_bad_nodes(
    client: httpx.AsyncClient, session: AsyncSession, account: Account, tenant: Tenant
) -> None:
    other = await sign_up(client)
    elsewhere = await populate(session, other.workspace_id)
    rules = {
        "all": [
            c("plan", "eq", "pro"),
            {"any": [c("nope", "eq", 1), c("plan", "eq", "gold")]},
            c("age", "contains", "3"),
            c("age", "eq", "3"),
            c("newsletter", "contains", "t"),
            {"list": str(uuid.uuid4())},
            {"list": str(elsewhere.lists["newsletter"])},
            {"list": str(tenant.lists["newsletter"])},
        ]
    }
    expected = [
        ("rules.all[1].any[0].custom_field", "unknown_custom_field"),
        ("rules.all[1].any[1].value", "invalid_choice"),
        ("rules.all[2].op", "operator_not_allowed"),
        ("rules.all[3].value", "invalid_value"),
        ("rules.all[4].op", "operator_not_allowed"),
        ("rules.all[5].list", "unknown_list"),
        ("rules.all[6].list", "unknown_list"),
    ]
    segment = await client.post(
        url(account), headers=account.headers, json={"name": "ok", "rules": SUBSCRIBED}
    )
    for method, target, body in (
        ("POST", url(account, "/count"), {"rules": rules}),
        ("POST", url(account), {"name": "x", "rules": rules}),
        ("PATCH", url(account, f"/{segment.json()['id']}"), {"rules": rules}),
    ):
        response = await client.request(method, target, headers=account.headers, json=body)
        assert response.status_code == 422, response.text
        details = response.json()["error"]["details"]
        assert [(d["path"], d["type"]) for d in details] == expected
        assert details[0]["loc"] == ["body", "rules", "all", "1", "any", "0", "custom_field"]
        assert "'nope'" in details[0]["message"]


async def test_permissions(client: httpx.AsyncClient, account: Account) -> None:
    async def key(permissions: list[str]) -> dict[str, str]:
        created = await client.post(
            f"/api/v1/workspaces/{account.workspace_id}/api-keys",
            headers=account.headers,
            json={"name": "k", "permissions": permissions},
        )
        return {"Authorization": f"Bearer {created.json()['key']}"}

    segment = await client.post(
        url(account), headers=account.headers, json={"name": "s", "rules": SUBSCRIBED}
    )
    one = url(account, f"/{segment.json()['id']}")
    reader = await key(["contacts:read"])
    assert (await client.get(url(account), headers=reader)).status_code == 200
    assert (await client.get(one, headers=reader)).status_code == 200
    assert (await client.get(f"{one}/count", headers=reader)).status_code == 200
    counted = await client.post(url(account, "/count"), headers=reader, json={"rules": SUBSCRIBED})
    assert counted.status_code == 200
    body = {"name": "s", "rules": SUBSCRIBED}
    assert (await client.post(url(account), headers=reader, json=body)).status_code == 403
    assert (await client.patch(one, headers=reader, json=body)).status_code == 403
    assert (await client.delete(one, headers=reader)).status_code == 403

    stranger = await key(["workspace:read"])
    assert (await client.get(url(account), headers=stranger)).status_code == 403
    assert (await client.get(f"{one}/count", headers=stranger)).status_code == 403


async def test_a_segment_whose_custom_field_was_deleted_is_out_of_date(
    client: httpx.AsyncClient, session: AsyncSession, account: Account, tenant: Tenant
) -> None:
    rules = {"all": [OK, c("age", "gt", 30)]}
    created = await client.post(
        url(account), headers=account.headers, json={"name": "Grown-ups", "rules": rules}
    )
    segment_id = uuid.UUID(created.json()["id"])
    predicate = await load_segment_predicate(session, account.workspace_id, segment_id)
    found = (await session.execute(select(Contact.first_name).where(predicate))).scalars()
    assert set(found) == {"Ann"}

    await session.execute(
        delete(CustomField).where(
            CustomField.workspace_id == account.workspace_id, CustomField.key == "age"
        )
    )
    response = await client.get(url(account, f"/{segment_id}/count"), headers=account.headers)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "segment_out_of_date"
    assert [d["path"] for d in error["details"]] == ["rules.all[1].custom_field"]
    # Still readable, so it can be fixed.
    assert (await client.get(url(account, f"/{segment_id}"), headers=account.headers)).is_success

    with pytest.raises(SegmentOutOfDate):
        await load_segment_predicate(session, account.workspace_id, segment_id)
    with pytest.raises(NotFound):
        await load_segment_predicate(session, account.workspace_id, uuid.uuid4())


async def test_another_workspace_cannot_load_the_segment(
    client: httpx.AsyncClient, session: AsyncSession, account: Account
) -> None:
    created = await client.post(
        url(account), headers=account.headers, json={"name": "s", "rules": SUBSCRIBED}
    )
    other = await sign_up(client)
    with pytest.raises(NotFound):
        await load_segment_predicate(session, other.workspace_id, uuid.UUID(created.json()["id"]))


async def test_operation_ids_are_stable(app: Any) -> None:
    operations = {
        op["operationId"]
        for path, item in app.openapi()["paths"].items()
        if "/segments" in path
        for op in item.values()
    }
    assert operations == {
        "segments_list",
        "segments_create",
        "segments_get",
        "segments_update",
        "segments_delete",
        "segments_count_rules",
        "segments_count",
    }
