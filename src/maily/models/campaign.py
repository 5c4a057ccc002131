"""Campaigns: content references, audience, schedule, A/B test and state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin, TimestampMixin, UUIDMixin


def _uuid_array() -> Any:
    return mapped_column(ARRAY(Uuid()), nullable=False, server_default=text("'{}'::uuid[]"))


class Campaign(TenantMixin, UUIDMixin, TimestampMixin, Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        # The scheduler polls the few campaigns that are due or sending, across workspaces.
        Index(
            "ix_campaigns_active",
            "status",
            "scheduled_at",
            postgresql_where=text("status IN ('scheduled', 'sending')"),
        ),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # draft | scheduled | sending | paused | sent | cancelled | failed (see campaigns/states.py)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="draft")
    subject: Mapped[str] = mapped_column(String(998), nullable=False, server_default="")
    preheader: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    # Plain ids for now: the templates and senders tables live in other domains.
    template_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    sender_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())

    # Audience: members of the lists or matches of the segments, minus the exclusions.
    list_ids: Mapped[list[uuid.UUID]] = _uuid_array()
    segment_ids: Mapped[list[uuid.UUID]] = _uuid_array()
    exclude_list_ids: Mapped[list[uuid.UUID]] = _uuid_array()
    exclude_segment_ids: Mapped[list[uuid.UUID]] = _uuid_array()

    # now | at | local_time
    send_mode: Mapped[str] = mapped_column(String(12), nullable=False, server_default="now")
    # For `at`: the moment to start.
    send_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # For `local_time`: a wall-clock time reached in each contact's own timezone.
    local_send_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    # The zone for contacts without a (valid) one of their own.
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, server_default="UTC")
    # Each recipient gets it at their own best hour within the 24 hours after the start
    # (maily.ai.insights.send_time); their delivery's send_after holds that time.
    send_time_optimisation: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )

    # When the scheduler materialises the ledger and starts sending.
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Rows the ledger got when the campaign started.
    audience_size: Mapped[int | None] = mapped_column(Integer)
    failure_reason: Mapped[str | None] = mapped_column(String(1000))

    # {"variants": [{"name": "A", "subject": ..., "template_id": ...}, ...],
    #  "test_percent": 20, "metric": "opens" | "clicks", "wait_minutes": 240}
    ab_test: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # When the scheduler picks the winner (the last test send plus the waiting time).
    ab_decide_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ab_winner: Mapped[str | None] = mapped_column(String(1))
    # The W3C trace context (traceparent, tracestate) of the request that started it:
    # the scheduler's and senders' spans for this send join that trace.
    trace_context: Mapped[dict[str, str] | None] = mapped_column(JSONB)
