"""Custom field definitions and typed values."""

from __future__ import annotations

import httpx
import pytest

from maily.contacts.fields import FieldSpec, FieldType, InvalidFieldValue, coerce
from tests.conftest import Account


@pytest.mark.parametrize(
    ("spec", "raw", "stored"),
    [
        (FieldSpec("n", FieldType.number), "42", 42),
        (FieldSpec("n", FieldType.number), "3,5", 3.5),
        (FieldSpec("d", FieldType.date), "2026-02-03", "2026-02-03"),
        (FieldSpec("b", FieldType.boolean), "Yes", True),
        (FieldSpec("b", FieldType.boolean), False, False),
        (FieldSpec("c", FieldType.choice, ("gold", "silver")), "gold", "gold"),
        (FieldSpec("t", FieldType.text), 12, "12"),
        (FieldSpec("t", FieldType.text), "  ", None),
    ],
)
def test_coerce(spec: FieldSpec, raw: object, stored: object) -> None:
    assert coerce(spec, raw) == stored


@pytest.mark.parametrize(
    ("spec", "raw"),
    [
        (FieldSpec("n", FieldType.number), "many"),
        (FieldSpec("n", FieldType.number), "nan"),
        (FieldSpec("n", FieldType.number), True),
        (FieldSpec("d", FieldType.date), "03/02/2026"),
        (FieldSpec("b", FieldType.boolean), "perhaps"),
        (FieldSpec("c", FieldType.choice, ("gold",)), "bronze"),
    ],
)
def test_refuses_values_of_the_wrong_type(spec: FieldSpec, raw: object) -> None:
    with pytest.raises(InvalidFieldValue):
        coerce(spec, raw)


async def test_field_lifecycle_and_values(client: httpx.AsyncClient, account: Account) -> None:
    base = f"/api/v1/workspaces/{account.workspace_id}"
    h = account.headers
    plan = await client.post(
        f"{base}/fields",
        headers=h,
        json={"key": "plan", "label": "Plan", "type": "choice", "choices": ["free", "pro"]},
    )
    assert plan.status_code == 201
    seats = await client.post(
        f"{base}/fields", headers=h, json={"key": "seats", "label": "Seats", "type": "number"}
    )
    assert seats.status_code == 201
    again = await client.post(
        f"{base}/fields", headers=h, json={"key": "plan", "label": "x", "type": "text"}
    )
    assert again.status_code == 409
    reserved = await client.post(
        f"{base}/fields", headers=h, json={"key": "email", "label": "x", "type": "text"}
    )
    assert reserved.status_code == 409
    no_choices = await client.post(
        f"{base}/fields", headers=h, json={"key": "tier", "label": "x", "type": "choice"}
    )
    assert no_choices.status_code == 422

    created = await client.post(
        f"{base}/contacts",
        headers=h,
        json={"email": "ann@example.com", "fields": {"plan": "pro", "seats": "12"}},
    )
    assert created.status_code == 201
    assert created.json()["fields"] == {"plan": "pro", "seats": 12}
    bad = await client.post(
        f"{base}/contacts",
        headers=h,
        json={"email": "bob@example.com", "fields": {"plan": "enterprise"}},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["loc"] == ["body", "fields", "plan"]
    unknown = await client.post(
        f"{base}/contacts", headers=h, json={"email": "cy@example.com", "fields": {"x": 1}}
    )
    assert unknown.status_code == 422

    # Deleting a field removes its values everywhere.
    deleted = await client.delete(f"{base}/fields/{seats.json()['id']}", headers=h)
    assert deleted.status_code == 204
    contact = await client.get(f"{base}/contacts/{created.json()['id']}", headers=h)
    assert contact.json()["fields"] == {"plan": "pro"}
