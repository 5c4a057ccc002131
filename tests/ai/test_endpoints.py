"""The AI HTTP API over a real gRPC server: JSON and SSE answers, suggestions, accepting
into templates, the live channel, failures, permissions and workspace isolation."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from redis.asyncio import Redis

from tests.ai.conftest import Assistant
from tests.ai.scripted import BAD_RESULT, MJML, MODEL_DOWN, MODEL_DOWN_LATER
from tests.ai.service import parse_sse
from tests.conftest import Account, sign_up

WAIT = 10.0


def base(account: Account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}"


async def api_key(
    client: httpx.AsyncClient, account: Account, permissions: list[str]
) -> dict[str, str]:
    created = await client.post(
        f"{base(account)}/api-keys",
        headers=account.headers,
        json={"name": "k", "permissions": permissions},
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


async def test_a_draft_in_json_uses_the_brand_and_is_kept_as_a_suggestion(
    ai_api: httpx.AsyncClient, assistant: Assistant
) -> None:
    owner = await sign_up(ai_api)
    brand = {
        "name": "Acme Garden",
        "voice": "warm, plain-spoken",
        "primary_color": "#336699",
        "font_family": "Georgia",
        "logo_url": "https://acme.example/logo.png",
        "website_url": "https://acme.example",
    }
    patched = await ai_api.patch(
        base(owner),
        headers=owner.headers,
        json={"postal_address": "1 Main St, Springfield", "brand": brand},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["brand"] == brand

    answer = await ai_api.post(
        f"{base(owner)}/ai/drafts",
        headers=owner.headers,
        json={"brief": "Spring sale on garden tools", "tone": "cheerful", "subject_variants": 2},
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [e["kind"] for e in body["events"]] == ["started", "plan"]
    assert body["result"]["subject_lines"][0]["text"] == "Spring is here"
    (task,) = assistant.script.tasks
    assert str(task.task_id) == body["task_id"]
    assert task.workspace_id == owner.workspace_id
    assert task.brand.model_dump() == {**brand, "postal_address": "1 Main St, Springfield"}
    assert task.subject_variants == 2  # type: ignore[union-attr]

    stored = await ai_api.get(
        f"{base(owner)}/ai/suggestions/{body['suggestion_id']}", headers=owner.headers
    )
    assert stored.status_code == 200
    assert stored.json()["status"] == "ready"
    assert stored.json()["kind"] == "draft_campaign"
    assert stored.json()["request"]["brief"] == "Spring sale on garden tools"
    assert stored.json()["result"] == body["result"]
    listed = await ai_api.get(f"{base(owner)}/ai/suggestions", headers=owner.headers)
    assert [s["id"] for s in listed.json()["items"]] == [body["suggestion_id"]]


async def test_server_sent_events_stream_progress_then_the_result(
    ai_api: httpx.AsyncClient,
) -> None:
    owner = await sign_up(ai_api)

    answer = await ai_api.post(
        f"{base(owner)}/ai/subject-lines",
        headers={**owner.headers, "Accept": "text/event-stream"},
        json={"brief": "Spring sale", "count": 2},
    )

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(answer.text)
    assert [name for name, _ in events] == ["progress", "progress", "result"]
    assert [data["seq"] for _, data in events[:2]] == [1, 2]
    assert events[1][1]["agent"] == "coordinator"
    result = events[-1][1]
    assert result["task_id"] == events[0][1]["task_id"]
    assert [line["text"] for line in result["result"]["items"]] == [
        "Spring is here",
        "Your spring edit",
    ]
    stored = await ai_api.get(
        f"{base(owner)}/ai/suggestions/{result['suggestion_id']}", headers=owner.headers
    )
    assert stored.json()["kind"] == "subject_lines"


async def test_every_event_is_published_on_the_workspace_live_channel(
    ai_api: httpx.AsyncClient, redis: Redis
) -> None:
    owner = await sign_up(ai_api)
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"maily:live:{owner.workspace_id}")
    await pubsub.get_message(timeout=WAIT)  # the subscribe confirmation
    try:
        answer = await ai_api.post(
            f"{base(owner)}/ai/subject-lines", headers=owner.headers, json={"brief": "Spring"}
        )
        assert answer.status_code == 200
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + WAIT
        while len(messages) < 3 and time.monotonic() < deadline:
            raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if raw is not None:
                messages.append(json.loads(raw["data"]))
    finally:
        await pubsub.aclose()

    assert [m["type"] for m in messages] == ["ai.progress"] * 3
    assert [m["kind"] for m in messages] == ["started", "plan", "result"]
    assert {m["task_id"] for m in messages} == {answer.json()["task_id"]}
    assert messages[-1]["data"] is None  # the result itself is read from the suggestion


async def test_accepting_a_draft_creates_a_validated_template_once(
    ai_api: httpx.AsyncClient,
) -> None:
    owner = await sign_up(ai_api)
    await ai_api.patch(base(owner), headers=owner.headers, json={"postal_address": "1 Main St"})
    draft = await ai_api.post(
        f"{base(owner)}/ai/drafts", headers=owner.headers, json={"brief": "Spring sale"}
    )
    suggestion_id = draft.json()["suggestion_id"]

    accepted = await ai_api.post(
        f"{base(owner)}/ai/suggestions/{suggestion_id}/accept",
        headers=owner.headers,
        json={"subject_index": 1, "name": "Spring from AI"},
    )

    assert accepted.status_code == 201, accepted.text
    template_id = accepted.json()["template_id"]
    assert accepted.json()["suggestion"]["status"] == "accepted"
    assert accepted.json()["suggestion"]["template_id"] == template_id
    template = await ai_api.get(f"{base(owner)}/templates/{template_id}", headers=owner.headers)
    assert template.status_code == 200
    assert template.json()["name"] == "Spring from AI"
    assert template.json()["subject"] == "Your spring edit"
    again = await ai_api.post(
        f"{base(owner)}/ai/suggestions/{suggestion_id}/accept", headers=owner.headers
    )
    assert again.status_code == 409
    past = await ai_api.post(
        f"{base(owner)}/ai/drafts", headers=owner.headers, json={"brief": "Another"}
    )
    beyond = await ai_api.post(
        f"{base(owner)}/ai/suggestions/{past.json()['suggestion_id']}/accept",
        headers=owner.headers,
        json={"subject_index": 5},
    )
    assert beyond.status_code == 422


async def test_a_stored_template_is_revised_and_the_revision_accepted(
    ai_api: httpx.AsyncClient, assistant: Assistant
) -> None:
    owner = await sign_up(ai_api)
    created = await ai_api.post(
        f"{base(owner)}/templates",
        headers=owner.headers,
        json={"name": "Newsletter", "source": MJML, "subject": "News"},
    )
    assert created.status_code == 201, created.text

    revised = await ai_api.post(
        f"{base(owner)}/ai/revisions",
        headers=owner.headers,
        json={"mode": "shorten", "template_id": created.json()["id"]},
    )

    assert revised.status_code == 200, revised.text
    (task,) = assistant.script.tasks
    assert task.mjml == MJML  # type: ignore[union-attr]
    assert task.subject == "News"  # type: ignore[union-attr]
    suggestion = revised.json()["suggestion_id"]
    accepted = await ai_api.post(
        f"{base(owner)}/ai/suggestions/{suggestion}/accept", headers=owner.headers
    )
    assert accepted.status_code == 201, accepted.text
    template = await ai_api.get(
        f"{base(owner)}/templates/{accepted.json()['template_id']}", headers=owner.headers
    )
    assert template.json()["name"] == "AI revision: Newsletter"


async def test_a_discarded_suggestion_cannot_be_accepted(ai_api: httpx.AsyncClient) -> None:
    owner = await sign_up(ai_api)
    draft = await ai_api.post(
        f"{base(owner)}/ai/drafts", headers=owner.headers, json={"brief": "Spring sale"}
    )
    one = f"{base(owner)}/ai/suggestions/{draft.json()['suggestion_id']}"

    discarded = await ai_api.post(f"{one}/discard", headers=owner.headers)

    assert discarded.status_code == 200
    assert discarded.json()["status"] == "discarded"
    assert (await ai_api.post(f"{one}/accept", headers=owner.headers)).status_code == 409
    ready = await ai_api.get(
        f"{base(owner)}/ai/suggestions", headers=owner.headers, params={"status": "ready"}
    )
    assert ready.json()["items"] == []


async def test_subject_lines_are_not_a_template(ai_api: httpx.AsyncClient) -> None:
    owner = await sign_up(ai_api)
    lines = await ai_api.post(
        f"{base(owner)}/ai/subject-lines", headers=owner.headers, json={"brief": "Spring"}
    )
    accepted = await ai_api.post(
        f"{base(owner)}/ai/suggestions/{lines.json()['suggestion_id']}/accept",
        headers=owner.headers,
    )
    assert accepted.status_code == 409
    assert "not a template" in accepted.json()["error"]["message"]


async def test_personalisation_offers_the_workspace_fields_by_default(
    ai_api: httpx.AsyncClient, assistant: Assistant
) -> None:
    owner = await sign_up(ai_api)
    field = await ai_api.post(
        f"{base(owner)}/fields",
        headers=owner.headers,
        json={"key": "plan", "label": "Plan", "type": "text"},
    )
    assert field.status_code == 201, field.text

    answer = await ai_api.post(
        f"{base(owner)}/ai/personalisation", headers=owner.headers, json={"mjml": MJML}
    )

    assert answer.status_code == 200, answer.text
    (task,) = assistant.script.tasks
    assert task.fields == ["email", "first_name", "last_name", "fields.plan"]  # type: ignore[union-attr]


async def test_no_model_answers_503_with_the_providers_reason(
    ai_api: httpx.AsyncClient,
) -> None:
    owner = await sign_up(ai_api)
    for accept in ("application/json", "text/event-stream"):
        answer = await ai_api.post(
            f"{base(owner)}/ai/drafts",
            headers={**owner.headers, "Accept": accept},
            json={"brief": f"{MODEL_DOWN} spring"},
        )
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "ai_model_unavailable"
        assert answer.json()["error"]["message"] == "provider openai: 401 invalid API key"


async def test_a_task_failing_midway_ends_with_an_error_and_stores_nothing(
    ai_api: httpx.AsyncClient,
) -> None:
    owner = await sign_up(ai_api)
    answer = await ai_api.post(
        f"{base(owner)}/ai/drafts", headers=owner.headers, json={"brief": f"{MODEL_DOWN_LATER} x"}
    )
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "ai_model_unavailable"

    streamed = await ai_api.post(
        f"{base(owner)}/ai/drafts",
        headers={**owner.headers, "Accept": "text/event-stream"},
        json={"brief": f"{MODEL_DOWN_LATER} x"},
    )
    events = parse_sse(streamed.text)
    assert [name for name, _ in events] == ["progress", "progress", "error"]
    assert events[-1][1]["message"] == "every provider failed: openai timed out"
    assert events[-1][1]["reason"] == "model_unavailable"

    invalid = await ai_api.post(
        f"{base(owner)}/ai/drafts", headers=owner.headers, json={"brief": f"{BAD_RESULT} x"}
    )
    assert invalid.status_code == 503
    assert invalid.json()["error"]["code"] == "ai_task_failed"
    listed = await ai_api.get(f"{base(owner)}/ai/suggestions", headers=owner.headers)
    assert listed.json()["items"] == []


async def test_bad_input_is_422_with_a_message(ai_api: httpx.AsyncClient) -> None:
    owner = await sign_up(ai_api)
    cases = [
        ("drafts", {"brief": ""}),
        ("drafts", {"brief": "x", "subject_variants": 11}),
        ("revisions", {"mode": "shorten"}),
        ("revisions", {"mode": "shorten", "mjml": MJML, "template_id": str(uuid.uuid4())}),
        ("revisions", {"mode": "translate", "mjml": MJML}),
        ("subject-lines", {"brief": "x", "budget": {"max_tokens": 5}}),
    ]
    for route, body in cases:
        answer = await ai_api.post(f"{base(owner)}/ai/{route}", headers=owner.headers, json=body)
        assert answer.status_code == 422, (route, body, answer.text)
        assert answer.json()["error"]["message"]
    missing = await ai_api.post(
        f"{base(owner)}/ai/revisions",
        headers=owner.headers,
        json={"mode": "shorten", "template_id": str(uuid.uuid4())},
    )
    assert missing.status_code == 404


async def test_permissions_ai_use_and_templates_write_for_accepting(
    ai_api: httpx.AsyncClient,
) -> None:
    owner = await sign_up(ai_api)
    no_ai = await api_key(ai_api, owner, ["workspace:read", "templates:write"])
    only_ai = await api_key(ai_api, owner, ["ai:use"])

    refused = await ai_api.post(f"{base(owner)}/ai/drafts", headers=no_ai, json={"brief": "x"})
    assert refused.status_code == 403
    assert (await ai_api.get(f"{base(owner)}/ai/suggestions", headers=no_ai)).status_code == 403

    draft = await ai_api.post(f"{base(owner)}/ai/drafts", headers=only_ai, json={"brief": "x"})
    assert draft.status_code == 200
    accept = await ai_api.post(
        f"{base(owner)}/ai/suggestions/{draft.json()['suggestion_id']}/accept", headers=only_ai
    )
    assert accept.status_code == 403
    assert "templates:write" in accept.json()["error"]["message"]


async def test_another_workspace_cannot_read_or_change_suggestions(
    ai_api: httpx.AsyncClient, assistant: Assistant
) -> None:
    victim, stranger = await sign_up(ai_api), await sign_up(ai_api)
    await ai_api.patch(base(victim), headers=victim.headers, json={"brand": {"name": "Victim Co"}})
    draft = await ai_api.post(
        f"{base(victim)}/ai/drafts", headers=victim.headers, json={"brief": "Secret plans"}
    )
    suggestion_id = draft.json()["suggestion_id"]

    for path in (
        f"{base(victim)}/ai/suggestions",
        f"{base(victim)}/ai/suggestions/{suggestion_id}",
    ):
        assert (await ai_api.get(path, headers=stranger.headers)).status_code == 404
    for action in ("accept", "discard"):
        own_ws = f"{base(stranger)}/ai/suggestions/{suggestion_id}/{action}"
        assert (await ai_api.post(own_ws, headers=stranger.headers)).status_code == 404
        theirs = f"{base(victim)}/ai/suggestions/{suggestion_id}/{action}"
        assert (await ai_api.post(theirs, headers=stranger.headers)).status_code == 404
    assert (
        await ai_api.get(
            f"{base(stranger)}/ai/suggestions/{suggestion_id}", headers=stranger.headers
        )
    ).status_code == 404
    refused = await ai_api.post(
        f"{base(victim)}/ai/drafts", headers=stranger.headers, json={"brief": "x"}
    )
    assert refused.status_code == 404

    # The stranger's own task carries the stranger's brand, not the victim's.
    own = await ai_api.post(
        f"{base(stranger)}/ai/drafts", headers=stranger.headers, json={"brief": "Mine"}
    )
    assert own.status_code == 200
    assert [t.brand.name for t in assistant.script.tasks] == ["Victim Co", ""]
    listed = await ai_api.get(f"{base(stranger)}/ai/suggestions", headers=stranger.headers)
    assert [s["id"] for s in listed.json()["items"]] == [own.json()["suggestion_id"]]
    untouched = await ai_api.get(
        f"{base(victim)}/ai/suggestions/{suggestion_id}", headers=victim.headers
    )
    assert untouched.json()["status"] == "ready"
