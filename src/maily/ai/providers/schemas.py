"""Request and response models of AI provider settings and the usage report."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from maily.kit.schemas import ORMSchema, Schema

ProviderKind = Literal["openai", "anthropic"]

DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}

Price = Field(default=Decimal(0), ge=0, le=1_000_000, max_digits=12, decimal_places=6)


class ProviderCreate(Schema):
    name: str = Field(min_length=1, max_length=100, examples=["OpenAI"])
    kind: ProviderKind = Field(
        description="`openai`: any OpenAI-compatible API (OpenAI, Ollama, vLLM, LM Studio, "
        "OpenRouter …); `anthropic`: the Anthropic Messages API"
    )
    base_url: str | None = Field(
        default=None,
        max_length=2048,
        description="http(s) base URL; defaults to the vendor's own API for the kind "
        "(https://api.openai.com/v1, https://api.anthropic.com). An OpenAI-compatible "
        "server's URL usually ends in /v1, e.g. http://127.0.0.1:11434/v1 for Ollama.",
    )
    model: str = Field(min_length=1, max_length=200, examples=["gpt-4o-mini"])
    api_key: str | None = Field(
        default=None,
        max_length=1000,
        description="Stored encrypted; never returned (only its last four characters are)",
    )
    priority: int = Field(default=100, ge=0, le=10_000, description="Lower is asked first")
    enabled: bool = True
    input_price_per_mtok: Decimal = Price
    output_price_per_mtok: Decimal = Price
    timeout_seconds: float = Field(default=60, gt=0, le=600)


class ProviderUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    base_url: str | None = Field(default=None, min_length=1, max_length=2048)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    api_key: str | None = Field(
        default=None, max_length=1000, description='A new key; "" removes the stored one'
    )
    priority: int | None = Field(default=None, ge=0, le=10_000)
    enabled: bool | None = None
    input_price_per_mtok: Decimal | None = Field(
        default=None, ge=0, le=1_000_000, max_digits=12, decimal_places=6
    )
    output_price_per_mtok: Decimal | None = Field(
        default=None, ge=0, le=1_000_000, max_digits=12, decimal_places=6
    )
    timeout_seconds: float | None = Field(default=None, gt=0, le=600)


class ProviderOut(ORMSchema):
    id: uuid.UUID
    name: str
    kind: ProviderKind
    base_url: str
    model: str
    api_key_set: bool
    api_key_last4: str | None = Field(description="The stored key's last four characters")
    priority: int
    enabled: bool
    input_price_per_mtok: Decimal
    output_price_per_mtok: Decimal
    timeout_seconds: float
    created_at: datetime
    updated_at: datetime


class ProviderTestOut(Schema):
    ok: bool
    message: str = Field(description="What the provider answered, or why it did not")
    model: str | None = Field(default=None, description="The model that answered, as it says")
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class UsageTotals(Schema):
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class UsageDay(UsageTotals):
    day: date


class UsageByModel(UsageTotals):
    provider_id: uuid.UUID | None
    provider_name: str
    model: str


class UsageReport(Schema):
    start: date
    end: date = Field(description="The last day included")
    total: UsageTotals
    days: list[UsageDay]
    models: list[UsageByModel]
