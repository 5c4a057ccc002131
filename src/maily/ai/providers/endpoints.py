"""HTTP routes of a workspace's AI providers (fallback order, keys never shown, a test
call) and its AI usage and cost report."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Query, status

from maily.ai.providers import schemas
from maily.ai.providers.auth import AIManage
from maily.ai.providers.service import ProviderService, provider_out
from maily.api.deps import SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1", tags=["ai providers"])
PROVIDERS = "/workspaces/{workspace_id}/ai/providers"
ONE = f"{PROVIDERS}/{{ai_provider_id}}"
REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "The base URL is refused (not http(s), or an address not allowed)"}
}


@router.get(PROVIDERS, operation_id="ai_providers_list")
async def list_providers(
    ctx: AIManage, session: SessionDep, settings: SettingsDep
) -> list[schemas.ProviderOut]:
    """The workspace's providers in fallback order: enabled ones are asked lowest
    priority first, each next one when the one before fails."""
    return [provider_out(p) for p in await ProviderService(session, settings).list(ctx)]


@router.post(
    PROVIDERS,
    operation_id="ai_providers_create",
    status_code=status.HTTP_201_CREATED,
    responses={**REFUSED, 409: {"description": "The name is taken, or too many providers"}},
)
async def create_provider(
    body: schemas.ProviderCreate, ctx: AIManage, session: SessionDep, settings: SettingsDep
) -> schemas.ProviderOut:
    """Add a model provider. The API key is stored encrypted and never shown again."""
    return provider_out(await ProviderService(session, settings).create(ctx, body))


@router.get(ONE, operation_id="ai_providers_get")
async def get_provider(
    ai_provider_id: uuid.UUID, ctx: AIManage, session: SessionDep, settings: SettingsDep
) -> schemas.ProviderOut:
    return provider_out(await ProviderService(session, settings).get(ctx, ai_provider_id))


@router.patch(
    ONE,
    operation_id="ai_providers_update",
    responses={**REFUSED, 409: {"description": "The name is taken"}},
)
async def update_provider(
    ai_provider_id: uuid.UUID,
    body: schemas.ProviderUpdate,
    ctx: AIManage,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.ProviderOut:
    """Change some fields; `api_key: ""` removes the stored key."""
    provider = await ProviderService(session, settings).update(ctx, ai_provider_id, body)
    return provider_out(provider)


@router.delete(ONE, operation_id="ai_providers_delete", status_code=status.HTTP_204_NO_CONTENT)
async def delete_provider(
    ai_provider_id: uuid.UUID, ctx: AIManage, session: SessionDep, settings: SettingsDep
) -> None:
    """Remove a provider; its past usage stays in the report."""
    await ProviderService(session, settings).delete(ctx, ai_provider_id)


@router.post(f"{ONE}/test", operation_id="ai_providers_test")
async def test_provider(
    ai_provider_id: uuid.UUID, ctx: AIManage, session: SessionDep, settings: SettingsDep
) -> schemas.ProviderTestOut:
    """One tiny real call to this provider, enabled or not: `ok` with what it
    answered, or the provider's reason in words. Its tokens count as usage."""
    return await ProviderService(session, settings).test(ctx, ai_provider_id)


@router.get("/workspaces/{workspace_id}/ai/usage", operation_id="ai_usage_report")
async def usage_report(
    ctx: AIManage,
    session: SessionDep,
    settings: SettingsDep,
    start: date | None = Query(
        default=None, description="First UTC day (default: 29 days before end)"
    ),
    end: date | None = Query(default=None, description="Last UTC day included (default: today)"),
) -> schemas.UsageReport:
    """Model calls, tokens and cost per day and per provider and model."""
    return await ProviderService(session, settings).usage(ctx, start, end)
