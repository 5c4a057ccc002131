"""Token and cost accounting: every model response of a run becomes one ai_usage row,
priced with the provider's prices at the time, and the run's totals come back as
contracts.Usage."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC
from decimal import Decimal
from typing import Any

from prometheus_client import Counter
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.ai.contracts import TaskKind, Usage
from maily.ai.providers.repository import ProviderRepository, UsageRepository
from maily.kit.db import AsyncSession, transaction
from maily.models import AIProvider

MILLION = Decimal(1_000_000)


def call_cost(provider: AIProvider | None, input_tokens: int, output_tokens: int) -> Decimal:
    if provider is None:
        return Decimal(0)
    return (
        Decimal(input_tokens) * provider.input_price_per_mtok
        + Decimal(output_tokens) * provider.output_price_per_mtok
    ) / MILLION


def _normal_url(url: str | None) -> str:
    return (url or "").rstrip("/")


def match_provider(response: ModelResponse, providers: Sequence[AIProvider]) -> AIProvider | None:
    """The configured provider that made this response: same base URL (and kind),
    preferring the same model name — a provider may answer with a longer, dated name
    ("gpt-4o" → "gpt-4o-2024-08-06")."""
    url = _normal_url(response.provider_url)
    same_place = [
        p
        for p in providers
        if _normal_url(p.base_url) == url
        and (response.provider_name is None or response.provider_name == p.kind)
    ]
    model = response.model_name or ""
    for candidates in (
        [p for p in same_place if p.model == model],
        [p for p in same_place if model.startswith(p.model)],
        same_place,
    ):
        if candidates:
            return candidates[0]
    return None


AI_CALLS = Counter(
    "maily_ai_calls",
    "Model calls recorded, by provider kind and task kind (each call once, however often "
    "it is recorded).",
    ["provider", "task_kind"],
)
AI_TOKENS = Counter(
    "maily_ai_tokens",
    "Tokens of recorded model calls, by provider kind, task kind and direction.",
    ["provider", "task_kind", "direction"],
)
AI_COST = Counter(
    "maily_ai_cost_usd",
    "What recorded model calls cost at their providers' prices, in US dollars.",
    ["provider", "task_kind"],
)


def _count(rows: Sequence[dict[str, Any]], kinds: Sequence[str], new: set[str]) -> None:
    """Export the calls stored now (not those recorded before) as Prometheus counters."""
    for row, kind in zip(rows, kinds, strict=True):
        if row["call_key"] not in new:
            continue
        task_kind = row["task_kind"]
        AI_CALLS.labels(kind, task_kind).inc()
        AI_TOKENS.labels(kind, task_kind, "input").inc(row["input_tokens"])
        AI_TOKENS.labels(kind, task_kind, "output").inc(row["output_tokens"])
        AI_COST.labels(kind, task_kind).inc(float(row["cost_usd"]))


def call_key(response: ModelResponse) -> str:
    """A digest of the response: the same response recorded twice is one call."""
    return hashlib.sha256(ModelMessagesTypeAdapter.dump_json([response])).hexdigest()


async def record_usage(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    task_kind: str,
    messages: Sequence[ModelMessage],
) -> Usage:
    """Store the run's model calls in the caller's transaction and return its totals."""
    responses = [m for m in messages if isinstance(m, ModelResponse)]
    if not responses:
        return Usage()
    providers = await ProviderRepository(session).list(workspace_id)
    rows: list[dict[str, Any]] = []
    kinds: list[str] = []  # each row's provider kind, for the metrics
    total_in = total_out = 0
    total_cost = Decimal(0)
    models: list[str] = []
    for response in responses:
        provider = match_provider(response, providers)
        input_tokens = response.usage.input_tokens
        output_tokens = response.usage.output_tokens
        cost = call_cost(provider, input_tokens, output_tokens)
        model = response.model_name or (provider.model if provider else "unknown")
        at = response.timestamp
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        rows.append(
            {
                "workspace_id": workspace_id,
                "provider_id": provider.id if provider else None,
                "provider_name": provider.name if provider else (response.provider_name or "?"),
                "model": model[:200],
                "task_kind": task_kind[:40],
                "requests": 1,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cost_usd": cost,
                "call_key": call_key(response),
                "at": at,
            }
        )
        kinds.append(provider.kind if provider else (response.provider_name or "unknown"))
        total_in += input_tokens
        total_out += output_tokens
        total_cost += cost
        label = f"{response.provider_name or (provider.kind if provider else '?')}:{model}"
        if label not in models:
            models.append(label)
    _count(rows, kinds, await UsageRepository(session).add_calls(rows))
    return Usage(
        requests=len(responses),
        input_tokens=total_in,
        output_tokens=total_out,
        cost_usd=float(total_cost),
        models=models,
    )


class DatabaseUsageSink:
    """contracts.UsageSink over PostgreSQL: each `record` is its own transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def record(
        self, workspace_id: uuid.UUID, task_kind: TaskKind, messages: Sequence[ModelMessage]
    ) -> Usage:
        async with transaction(self.sessionmaker) as session:
            return await record_usage(session, workspace_id, task_kind, messages)
