"""A suggestion for the generated cross-workspace suite (tests/api/test_tenancy.py).

It is made through the API with a real gRPC server (the scripted runner) that lives
only while the suggestion is made; the suite's own calls never reach the service."""

from __future__ import annotations

import uuid
from typing import cast

import httpx

from maily.ai.client import AssistantClient
from maily.ai.server import AssistantServer
from maily.config import AISettings
from tests.ai.scripted import Script, scripted_runner
from tests.conftest import Account


async def seed_suggestion(client: httpx.AsyncClient, owner: Account) -> dict[str, uuid.UUID]:
    app = cast(httpx.ASGITransport, client._transport).app
    server = AssistantServer(scripted_runner(Script()), host="127.0.0.1", port=0)
    await server.start()
    state = app.state  # type: ignore[attr-defined]
    previous = getattr(state, "ai_client", None)
    ai = AssistantClient(AISettings(port=server.port))
    state.ai_client = ai  # the process's client slot (maily.ai.endpoints.assistant_client)
    try:
        made = await client.post(
            f"/api/v1/workspaces/{owner.workspace_id}/ai/subject-lines",
            headers=owner.headers,
            json={"brief": "Spring sale"},
        )
        assert made.status_code == 200, made.text
    finally:
        state.ai_client = previous
        await ai.close()
        await server.stop(0)
    return {"suggestion_id": uuid.UUID(made.json()["suggestion_id"])}


SEEDERS = [seed_suggestion]
