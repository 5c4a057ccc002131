"""Templates over HTTP: CRUD, versions, 422s with line numbers, previews, validation, access."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from maily.kit.db import AsyncSession
from maily.kit.errors import NotFound
from maily.templates import COMPILE_STATS, load_compiled_template
from maily.templates.errors import TemplateProblem
from tests.conftest import Account, sign_up

MJML = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{ contact.first_name | default("there") }} from {{ workspace.name }}</mj-text>
        <mj-text>Plan: {{ contact.plan | default("none") }}</mj-text>
        <mj-button href="https://example.com/offer">Offer</mj-button>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""


def url(account: Account, suffix: str = "") -> str:
    return f"/api/v1/workspaces/{account.workspace_id}/templates{suffix}"


async def create(client: httpx.AsyncClient, account: Account, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Newsletter")
    body.setdefault("source", MJML)
    response = await client.post(url(account), headers=account.headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_get_list_and_versions(client: httpx.AsyncClient, account: Account) -> None:
    created = await create(client, account, subject="Hi {{ contact.first_name }}")
    assert created["kind"] == "mjml"
    assert created["role"] == "template"
    assert created["current_version"] == 1
    assert created["links"] == ["https://example.com/offer"]
    template_id = created["id"]

    got = await client.get(url(account, f"/{template_id}"), headers=account.headers)
    assert got.status_code == 200
    assert got.json()["source"] == MJML

    updated = await client.patch(
        url(account, f"/{template_id}"),
        headers=account.headers,
        json={"source": MJML.replace("Offer", "Deal"), "subject": "New"},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["current_version"] == 2
    # A rename alone is no new version.
    renamed = await client.patch(
        url(account, f"/{template_id}"), headers=account.headers, json={"name": "Renamed"}
    )
    assert renamed.json()["current_version"] == 2
    assert renamed.json()["name"] == "Renamed"

    versions = await client.get(url(account, f"/{template_id}/versions"), headers=account.headers)
    assert [v["version"] for v in versions.json()["items"]] == [2, 1]
    first = await client.get(url(account, f"/{template_id}/versions/1"), headers=account.headers)
    assert first.status_code == 200
    assert first.json()["source"] == MJML
    assert first.json()["subject"] == "Hi {{ contact.first_name }}"
    assert first.json()["created_by"] == str(account.user_id)
    second = await client.get(url(account, f"/{template_id}/versions/2"), headers=account.headers)
    assert "Deal" in second.json()["source"]
    missing = await client.get(url(account, f"/{template_id}/versions/3"), headers=account.headers)
    assert missing.status_code == 404

    listed = await client.get(url(account), headers=account.headers)
    assert [t["id"] for t in listed.json()["items"]] == [template_id]
    layouts = await client.get(url(account), headers=account.headers, params={"role": "layout"})
    assert layouts.json()["items"] == []

    deleted = await client.delete(url(account, f"/{template_id}"), headers=account.headers)
    assert deleted.status_code == 204
    gone = await client.get(url(account, f"/{template_id}/versions/1"), headers=account.headers)
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("source", "line", "text"),
    [
        ("<p>one</p>\n<p>two</p>\n<p>{% if x %}three</p>\n", 3, "endif"),
        ("<p>\n\n\n{{ contact.first_name | shout }}</p>", 4, "No filter named 'shout'"),
        ("<p>\n{{ ''.__class__.__mro__ }}</p>", 2, "__class__"),
        ("<p>\n\n{% for x in range(10**9) %}{% endfor %}</p>", 3, "range() is limited"),
    ],
)
async def test_problems_are_422_naming_the_line(
    client: httpx.AsyncClient, account: Account, source: str, line: int, text: str
) -> None:
    body = {"name": "Broken", "kind": "html", "source": source}
    response = await client.post(url(account), headers=account.headers, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    detail = error["details"][0]
    assert detail["line"] == line
    assert detail["loc"] == ["body", "source"]
    assert f"line {line}" in detail["message"]
    assert text in detail["message"]
    assert text in error["message"]
    # Nothing was saved.
    listed = await client.get(url(account), headers=account.headers)
    assert listed.json()["items"] == []
    # validate answers the same without saving.
    checked = await client.post(url(account, "/validate"), headers=account.headers, json=body)
    assert checked.status_code == 422
    assert checked.json()["error"]["details"][0]["line"] == line


async def test_invalid_mjml_is_422(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.post(
        url(account, "/validate"),
        headers=account.headers,
        json={"kind": "mjml", "source": "<mjml><mj-body>\n<mj-section>\n"},
    )
    assert response.status_code == 422
    assert "not valid MJML" in response.json()["error"]["message"]


async def test_update_with_a_syntax_error_keeps_the_current_version(
    client: httpx.AsyncClient, account: Account
) -> None:
    created = await create(client, account)
    response = await client.patch(
        url(account, f"/{created['id']}"),
        headers=account.headers,
        json={"subject": "Hi {{ contact.first_name "},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["body", "subject"]
    got = await client.get(url(account, f"/{created['id']}"), headers=account.headers)
    assert got.json()["current_version"] == 1


async def test_validate_renders_sample_data_without_saving(
    client: httpx.AsyncClient, account: Account
) -> None:
    response = await client.post(
        url(account, "/validate"),
        headers=account.headers,
        json={"kind": "mjml", "source": MJML, "subject": "For {{ contact.first_name }}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["subject"] == "For Jane"
    assert "Hello Jane from Acme" in body["html"]
    assert "Hello Jane from Acme" in body["text"]
    assert body["links"] == ["https://example.com/offer"]
    assert (await client.get(url(account), headers=account.headers)).json()["items"] == []


async def test_preview_for_a_contact_and_with_sample_data(
    client: httpx.AsyncClient, account: Account
) -> None:
    base = f"/api/v1/workspaces/{account.workspace_id}"
    field = await client.post(
        f"{base}/fields",
        headers=account.headers,
        json={"key": "plan", "label": "Plan", "type": "text"},
    )
    assert field.status_code == 201, field.text
    contact = await client.post(
        f"{base}/contacts",
        headers=account.headers,
        json={"email": "zoe@example.com", "first_name": "<Zoe>", "fields": {"plan": "pro"}},
    )
    assert contact.status_code == 201, contact.text
    template = await create(client, account, subject="Hi {{ contact.first_name }}")

    preview = await client.post(
        url(account, f"/{template['id']}/preview"),
        headers=account.headers,
        json={"contact_id": contact.json()["id"]},
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["subject"] == "Hi <Zoe>"
    assert "Hello &lt;Zoe&gt; from Acme" in body["html"]
    assert "Plan: pro" in body["html"]
    assert "Hello <Zoe> from Acme" in body["text"]
    # Previews show the links themselves and carry no open pixel.
    assert 'href="https://example.com/offer"' in body["html"]
    assert "/t/o/" not in body["html"]

    sample = await client.post(
        url(account, f"/{template['id']}/preview"),
        headers=account.headers,
        json={"subject": "Other {{ contact.email }}"},
    )
    assert sample.json()["subject"] == "Other jane.doe@example.com"
    assert "Plan: Sample text" in sample.json()["html"]

    unknown = await client.post(
        url(account, f"/{template['id']}/preview"),
        headers=account.headers,
        json={"contact_id": str(uuid.uuid4())},
    )
    assert unknown.status_code == 404


async def test_layouts_and_blocks(client: httpx.AsyncClient, account: Account) -> None:
    footer = await create(
        client,
        account,
        name="footer",
        kind="html",
        role="block",
        source='<p class="footer">{{ workspace.postal_address | default("No address", true) }}</p>',
    )
    duplicate = await client.post(
        url(account),
        headers=account.headers,
        json={"name": "footer", "kind": "html", "role": "block", "source": "<p>x</p>"},
    )
    assert duplicate.status_code == 409
    bad_layout = await client.post(
        url(account),
        headers=account.headers,
        json={"name": "L", "kind": "html", "role": "layout", "source": "<div></div>"},
    )
    assert bad_layout.status_code == 422
    layout = await create(
        client,
        account,
        name="Frame",
        kind="html",
        role="layout",
        source='<div class="frame">{% block content %}{% endblock %}{% include "footer" %}</div>',
    )
    template = await create(
        client,
        account,
        name="Hello",
        kind="html",
        source="<h1>Hello {{ contact.first_name }}</h1>",
        layout_id=layout["id"],
    )
    preview = await client.post(
        url(account, f"/{template['id']}/preview"), headers=account.headers, json={}
    )
    assert preview.status_code == 200, preview.text
    html = preview.json()["html"]
    assert '<div class="frame"><h1>Hello Jane</h1><p class="footer">No address</p></div>' in html

    # A block change reaches templates that include it; their saved versions stay.
    changed = await client.patch(
        url(account, f"/{footer['id']}"),
        headers=account.headers,
        json={"source": '<p class="footer">New footer</p>'},
    )
    assert changed.status_code == 200
    preview = await client.post(
        url(account, f"/{template['id']}/preview"), headers=account.headers, json={}
    )
    assert "New footer" in preview.json()["html"]

    # A layout must match the template's kind, and cannot go while in use.
    mismatched = await client.post(
        url(account),
        headers=account.headers,
        json={"name": "M", "kind": "mjml", "source": MJML, "layout_id": layout["id"]},
    )
    assert mismatched.status_code == 422
    in_use = await client.delete(url(account, f"/{layout['id']}"), headers=account.headers)
    assert in_use.status_code == 409
    unlinked = await client.patch(
        url(account, f"/{template['id']}"), headers=account.headers, json={"clear_layout": True}
    )
    assert unlinked.json()["layout_id"] is None
    assert unlinked.json()["current_version"] == 2
    assert (
        await client.delete(url(account, f"/{layout['id']}"), headers=account.headers)
    ).status_code == 204


async def test_load_compiled_template_for_the_sender(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    template = await create(client, account, subject="Hi {{ contact.first_name }}")
    await client.patch(
        url(account, f"/{template['id']}"), headers=account.headers, json={"subject": "v2"}
    )
    workspace_id, template_id = account.workspace_id, uuid.UUID(template["id"])
    compiles = COMPILE_STATS.compiles
    loaded = await load_compiled_template(session, workspace_id, template_id)
    assert COMPILE_STATS.compiles == compiles + 1
    assert loaded.version == 2
    assert loaded.compiled.links == ["https://example.com/offer"]
    first = await load_compiled_template(session, workspace_id, template_id, version=1)
    message = first.compiled.render(
        {"contact": {"first_name": "Ann"}}, click_url=lambda i: f"https://t/c/{i}"
    )
    assert message.subject == "Hi Ann"
    assert 'href="https://t/c/0"' in message.html
    with pytest.raises(NotFound):
        await load_compiled_template(session, uuid.uuid4(), template_id)
    with pytest.raises(NotFound):
        await load_compiled_template(session, workspace_id, template_id, version=9)
    assert issubclass(TemplateProblem, Exception)


async def test_permissions_and_other_workspaces(
    client: httpx.AsyncClient, account: Account
) -> None:
    template = await create(client, account)
    other = await sign_up(client)
    for method, suffix in (
        ("GET", f"/{template['id']}"),
        ("PATCH", f"/{template['id']}"),
        ("DELETE", f"/{template['id']}"),
        ("GET", f"/{template['id']}/versions"),
        ("GET", f"/{template['id']}/versions/1"),
        ("POST", f"/{template['id']}/preview"),
    ):
        # B in A's workspace, and B in its own workspace with A's template id.
        for owner in (account, other):
            target = f"/api/v1/workspaces/{owner.workspace_id}/templates{suffix}"
            response = await client.request(
                method,
                target,
                headers=other.headers,
                json={"name": "x"} if method != "GET" else None,
            )
            expected = 404
            assert response.status_code == expected, (method, target, response.text)
    got = await client.get(url(account, f"/{template['id']}"), headers=account.headers)
    assert got.json()["name"] == "Newsletter"

    key = await client.post(
        f"/api/v1/workspaces/{account.workspace_id}/api-keys",
        headers=account.headers,
        json={"name": "read", "permissions": ["templates:read"]},
    )
    reader = {"Authorization": f"Bearer {key.json()['key']}"}
    assert (await client.get(url(account), headers=reader)).status_code == 200
    refused = await client.post(url(account), headers=reader, json={"name": "x", "source": MJML})
    assert refused.status_code == 403
