"""Objects of the templates domain for the cross-workspace suite."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Account


async def seed_templates(client: httpx.AsyncClient, owner: Account) -> dict[str, Any]:
    base = f"/api/v1/workspaces/{owner.workspace_id}/templates"
    layout = await client.post(
        base,
        headers=owner.headers,
        json={
            "name": "Frame",
            "kind": "html",
            "role": "layout",
            "source": "<div>{% block content %}{% endblock %}</div>",
        },
    )
    assert layout.status_code == 201, layout.text
    template = await client.post(
        base,
        headers=owner.headers,
        json={
            "name": "Welcome",
            "kind": "html",
            "source": '<p>Hi {{ contact.first_name }} <a href="https://example.com">x</a></p>',
            "subject": "Welcome",
            "layout_id": layout.json()["id"],
        },
    )
    assert template.status_code == 201, template.text
    return {"template_id": uuid.UUID(template.json()["id"]), "version": 1}


SEEDERS = [seed_templates]
