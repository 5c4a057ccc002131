"""Rollups the analytics service keeps and reports read: per campaign and hour (and A/B
variant), per link, per recipient domain. Counters only ever grow; a report is a sum."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKeyConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TenantMixin

# The counters of each rollup, in the order reports show them: the consumer adds to
# these columns and reports sum them, so both read the names from here.
CAMPAIGN_COUNTERS: tuple[str, ...] = (
    "sent",
    "delivered",
    "hard_bounces",
    "soft_bounces",
    "complaints",
    "unsubscribes",
    "opens",
    "human_opens",
    "unique_opens",
    "unique_human_opens",
    "clicks",
    "human_clicks",
    "unique_clicks",
    "unique_human_clicks",
)
LINK_COUNTERS: tuple[str, ...] = ("clicks", "human_clicks", "unique_clicks", "unique_human_clicks")
DOMAIN_COUNTERS: tuple[str, ...] = (
    "sent",
    "delivered",
    "hard_bounces",
    "soft_bounces",
    "complaints",
    "opens",
    "unique_opens",
    "clicks",
    "unique_clicks",
)


def _counter() -> Mapped[int]:
    return mapped_column(BigInteger, nullable=False, server_default="0")


class _CampaignOwned(TenantMixin):
    campaign_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, sort_order=-9)


def _campaign_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["workspace_id", "campaign_id"],
        ["campaigns.workspace_id", "campaigns.id"],
        ondelete="CASCADE",
    )


class CampaignStats(_CampaignOwned, Base):
    """One campaign's counters in one hour, per variant ('' for none)."""

    __tablename__ = "campaign_stats"
    __table_args__ = (
        _campaign_fk(),
        # The workspace dashboard: every campaign's hours over a period.
        Index("ix_campaign_stats_workspace_hour", "workspace_id", "hour"),
    )

    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    variant: Mapped[str] = mapped_column(String(1), primary_key=True, server_default="")
    sent: Mapped[int] = _counter()
    delivered: Mapped[int] = _counter()
    hard_bounces: Mapped[int] = _counter()
    soft_bounces: Mapped[int] = _counter()
    complaints: Mapped[int] = _counter()
    unsubscribes: Mapped[int] = _counter()
    opens: Mapped[int] = _counter()
    human_opens: Mapped[int] = _counter()
    unique_opens: Mapped[int] = _counter()
    unique_human_opens: Mapped[int] = _counter()
    clicks: Mapped[int] = _counter()
    human_clicks: Mapped[int] = _counter()
    unique_clicks: Mapped[int] = _counter()
    unique_human_clicks: Mapped[int] = _counter()


class CampaignLinkStats(_CampaignOwned, Base):
    """Clicks of one link of one variant's content (variants have their own link tables)."""

    __tablename__ = "campaign_link_stats"
    __table_args__ = (_campaign_fk(),)

    variant: Mapped[str] = mapped_column(String(1), primary_key=True, server_default="")
    link_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    clicks: Mapped[int] = _counter()
    human_clicks: Mapped[int] = _counter()
    unique_clicks: Mapped[int] = _counter()
    unique_human_clicks: Mapped[int] = _counter()


class CampaignDomainStats(_CampaignOwned, Base):
    """One campaign's counters for one recipient domain (gmail.com, outlook.com, ...)."""

    __tablename__ = "campaign_domain_stats"
    __table_args__ = (_campaign_fk(),)

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    sent: Mapped[int] = _counter()
    delivered: Mapped[int] = _counter()
    hard_bounces: Mapped[int] = _counter()
    soft_bounces: Mapped[int] = _counter()
    complaints: Mapped[int] = _counter()
    opens: Mapped[int] = _counter()
    unique_opens: Mapped[int] = _counter()
    clicks: Mapped[int] = _counter()
    unique_clicks: Mapped[int] = _counter()
