"""Rules of AI provider settings: base URLs checked, keys kept encrypted and never shown,
a test call that answers in words, and the usage report."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.exceptions import AgentRunError

from maily.ai.contracts import ModelUnavailable
from maily.ai.providers import schemas
from maily.ai.providers.addresses import RefusedURL, Resolver, check_base_url, system_resolver
from maily.ai.providers.chain import chain_of
from maily.ai.providers.repository import ProviderRepository, UsageRepository
from maily.ai.providers.usage import record_usage
from maily.audit.service import actor_of, record_audit
from maily.auth.service import WorkspaceContext
from maily.config import Settings
from maily.kit.db import AsyncSession
from maily.kit.errors import Conflict, NotFound, Unprocessable
from maily.models import AIProvider

TEST_TASK_KIND = "provider_test"
TEST_PROMPT = "This is a connection test. Reply with the single word OK."
# Keys shorter than this show no hint: four characters of a short key are most of it.
HINT_MIN_LENGTH = 12
MAX_REPORT_DAYS = 366


def provider_out(provider: AIProvider) -> schemas.ProviderOut:
    """The provider as the API shows it: whether a key is set and its last four
    characters, never the key (the encrypted column is not read here)."""
    return schemas.ProviderOut(
        id=provider.id,
        name=provider.name,
        kind=provider.kind,
        base_url=provider.base_url,
        model=provider.model,
        api_key_set=provider.api_key_hint is not None,
        api_key_last4=provider.api_key_hint or None,
        priority=provider.priority,
        enabled=provider.enabled,
        input_price_per_mtok=provider.input_price_per_mtok,
        output_price_per_mtok=provider.output_price_per_mtok,
        timeout_seconds=provider.timeout_seconds,
        created_at=provider.created_at,
        updated_at=provider.updated_at,
    )


def _hint(key: str) -> str:
    # "" marks "set, too short to hint at"; api_key_hint NULL means no key at all.
    return key[-4:] if len(key) >= HINT_MIN_LENGTH else ""


def _refused(exc: RefusedURL) -> Unprocessable:
    return Unprocessable(
        f"the base URL is refused: {exc}",
        details=[{"loc": ["body", "base_url"], "message": str(exc), "type": "refused_url"}],
    )


class ProviderService:
    def __init__(
        self, session: AsyncSession, settings: Settings, resolver: Resolver = system_resolver
    ) -> None:
        self.session = session
        self.settings = settings
        self.resolver = resolver
        self.providers = ProviderRepository(session)

    async def list(self, ctx: WorkspaceContext) -> list[AIProvider]:
        return await self.providers.list(ctx.workspace_id)

    async def get(self, ctx: WorkspaceContext, provider_id: uuid.UUID) -> AIProvider:
        provider = await self.providers.get(ctx.workspace_id, provider_id)
        if provider is None:
            raise NotFound("AI provider not found")
        return provider

    async def _checked_url(self, raw: str) -> str:
        try:
            return await check_base_url(raw, self.settings, self.resolver)
        except RefusedURL as exc:
            raise _refused(exc) from None

    async def create(self, ctx: WorkspaceContext, body: schemas.ProviderCreate) -> AIProvider:
        limit = self.settings.ai_providers.max_providers_per_workspace
        if await self.providers.count(ctx.workspace_id) >= limit:
            raise Conflict(f"a workspace may have at most {limit} AI providers")
        name = body.name.strip()
        if not name:
            raise Unprocessable("the name must not be blank")
        if await self.providers.name_taken(ctx.workspace_id, name):
            raise Conflict(f"an AI provider named {name!r} exists already")
        base_url = await self._checked_url(body.base_url or schemas.DEFAULT_BASE_URLS[body.kind])
        key = (body.api_key or "").strip() or None
        provider = await self.providers.add(
            AIProvider(
                workspace_id=ctx.workspace_id,
                name=name,
                kind=body.kind,
                base_url=base_url,
                model=body.model.strip(),
                api_key=key,
                api_key_hint=_hint(key) if key else None,
                priority=body.priority,
                enabled=body.enabled,
                input_price_per_mtok=body.input_price_per_mtok,
                output_price_per_mtok=body.output_price_per_mtok,
                timeout_seconds=body.timeout_seconds,
            )
        )
        await self._audit(ctx, "ai_provider.created", provider, {"fields": ["*"]})
        return provider

    async def update(
        self, ctx: WorkspaceContext, provider_id: uuid.UUID, body: schemas.ProviderUpdate
    ) -> AIProvider:
        provider = await self.providers.get(ctx.workspace_id, provider_id, for_update=True)
        if provider is None:
            raise NotFound("AI provider not found")
        changes: dict[str, Any] = body.model_dump(exclude_unset=True)
        if "name" in changes and changes["name"] is not None:
            name = changes["name"].strip()
            if not name:
                raise Unprocessable("the name must not be blank")
            if await self.providers.name_taken(ctx.workspace_id, name, besides=provider.id):
                raise Conflict(f"an AI provider named {name!r} exists already")
            provider.name = name
        if changes.get("base_url") is not None:
            provider.base_url = await self._checked_url(changes["base_url"])
        if changes.get("model") is not None:
            provider.model = changes["model"].strip()
        if "api_key" in changes:
            key = (changes["api_key"] or "").strip() or None
            provider.api_key = key
            provider.api_key_hint = _hint(key) if key else None
        for field in (
            "priority",
            "enabled",
            "input_price_per_mtok",
            "output_price_per_mtok",
            "timeout_seconds",
        ):
            if changes.get(field) is not None:
                setattr(provider, field, changes[field])
        provider = await self.providers.save(provider)
        await self._audit(ctx, "ai_provider.updated", provider, {"fields": sorted(changes)})
        return provider

    async def delete(self, ctx: WorkspaceContext, provider_id: uuid.UUID) -> None:
        provider = await self.get(ctx, provider_id)
        await self._audit(ctx, "ai_provider.deleted", provider, {})
        await self.providers.delete(provider)

    async def test(self, ctx: WorkspaceContext, provider_id: uuid.UUID) -> schemas.ProviderTestOut:
        """One tiny real call to this provider (enabled or not); its tokens are counted."""
        provider = await self.get(ctx, provider_id)
        # No retries: the answer should be the provider's own, and prompt.
        policy = self.settings.ai_providers.model_copy(update={"max_retries": 0})
        settings = self.settings.model_copy(update={"ai_providers": policy})
        try:
            model = await chain_of([provider], settings, self.resolver, include_disabled=True)
            agent = Agent(model, instructions="You answer connection tests briefly.")
            result = await agent.run(
                TEST_PROMPT, model_settings={"max_tokens": policy.test_max_tokens}
            )
        except ModelUnavailable as exc:
            return schemas.ProviderTestOut(ok=False, message=str(exc))
        except AgentRunError as exc:  # it answered, but not in a usable way
            return schemas.ProviderTestOut(
                ok=False, message=f"The AI provider answered unusably — {exc}"
            )
        usage = await record_usage(
            self.session, ctx.workspace_id, TEST_TASK_KIND, result.new_messages()
        )
        answered = result.response.model_name or provider.model
        reply = str(result.output).strip()[:200]
        return schemas.ProviderTestOut(
            ok=True,
            message=f"{answered} answered: {reply}" if reply else f"{answered} answered",
            model=answered,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=usage.cost_usd,
        )

    async def usage(
        self, ctx: WorkspaceContext, start: date | None, end: date | None
    ) -> schemas.UsageReport:
        """Totals per day and per provider and model over [start, end] (UTC days;
        the last 30 days by default)."""
        today = datetime.now(UTC).date()
        end = end or today
        start = start or end - timedelta(days=29)
        if start > end:
            raise Unprocessable("start must not be after end")
        if (end - start).days + 1 > MAX_REPORT_DAYS:
            raise Unprocessable(f"a report spans at most {MAX_REPORT_DAYS} days")
        since = datetime.combine(start, time.min, tzinfo=UTC)
        until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
        repository = UsageRepository(self.session)
        days = await repository.by_day(ctx.workspace_id, since, until)
        models = await repository.by_model(ctx.workspace_id, since, until)
        total = schemas.UsageTotals(
            requests=sum(int(d["requests"]) for d in days),
            input_tokens=sum(int(d["input_tokens"]) for d in days),
            output_tokens=sum(int(d["output_tokens"]) for d in days),
            cost_usd=float(sum(d["cost_usd"] for d in days)),
        )
        return schemas.UsageReport(
            start=start,
            end=end,
            total=total,
            days=[
                schemas.UsageDay(
                    day=d["day"].date(),
                    requests=d["requests"],
                    input_tokens=d["input_tokens"],
                    output_tokens=d["output_tokens"],
                    cost_usd=float(d["cost_usd"]),
                )
                for d in days
            ],
            models=[
                schemas.UsageByModel(
                    provider_id=m["provider_id"],
                    provider_name=m["provider_name"],
                    model=m["model"],
                    requests=m["requests"],
                    input_tokens=m["input_tokens"],
                    output_tokens=m["output_tokens"],
                    cost_usd=float(m["cost_usd"]),
                )
                for m in models
            ],
        )

    async def _audit(
        self, ctx: WorkspaceContext, action: str, provider: AIProvider, extra: dict[str, Any]
    ) -> None:
        details = {
            "name": provider.name,
            "kind": provider.kind,
            "model": provider.model,
            "base_url": provider.base_url,
            **extra,
        }
        await record_audit(
            self.session,
            ctx.workspace_id,
            actor_of(ctx),
            action,
            "ai_provider",
            provider.id,
            details,
        )
