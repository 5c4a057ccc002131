"""AI model providers a workspace configured (key encrypted at rest), and what each
model call cost."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.crypto import EncryptedText
from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin

AI_PROVIDER_KINDS = ("openai", "anthropic")


class AIProvider(TenantMixin, UUIDMixin, TimestampMixin, Base):
    """One model endpoint: `openai` is any OpenAI-compatible API (OpenAI, Ollama, vLLM,
    LM Studio, OpenRouter …), `anthropic` the Anthropic Messages API. Enabled providers
    are asked in `priority` order (lowest first), each next one when the one before fails."""

    __tablename__ = "ai_providers"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        CheckConstraint("kind IN ('openai', 'anthropic')", name="kind"),
        CheckConstraint("timeout_seconds > 0", name="timeout_positive"),
        CheckConstraint(
            "input_price_per_mtok >= 0 AND output_price_per_mtok >= 0", name="prices_not_negative"
        ),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    base_url: Mapped[str] = mapped_column(String(2048), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    # Never returned by the API; `api_key_hint` (its last four characters) is.
    api_key: Mapped[str | None] = mapped_column(EncryptedText)
    api_key_hint: Mapped[str | None] = mapped_column(String(4))
    priority: Mapped[int] = mapped_column(Integer, nullable=False, server_default="100")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # US dollars per million tokens, for the cost of each call.
    input_price_per_mtok: Mapped[Decimal] = mapped_column(
        Numeric(12, 6), nullable=False, server_default="0"
    )
    output_price_per_mtok: Mapped[Decimal] = mapped_column(
        Numeric(12, 6), nullable=False, server_default="0"
    )
    timeout_seconds: Mapped[float] = mapped_column(Float, nullable=False, server_default="60")


class AIUsage(TenantMixin, UUIDMixin, Base):
    """One model call (one response) and what it cost at the prices then in force.

    `provider_id` is not a foreign key: a deleted provider's calls stay in the usage
    report, under the name they were made with. `call_key` is a digest of the response,
    so recording the same run twice counts it once."""

    __tablename__ = "ai_usage"
    __table_args__ = (
        UniqueConstraint("workspace_id", "call_key"),
        # The usage report: one workspace, a date range.
        Index("ix_ai_usage_workspace_at", "workspace_id", "at"),
    )

    provider_id: Mapped[uuid.UUID | None] = mapped_column()
    provider_name: Mapped[str] = mapped_column(String(100), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    task_kind: Mapped[str] = mapped_column(String(40), nullable=False)
    requests: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(18, 9), nullable=False, server_default="0")
    call_key: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
