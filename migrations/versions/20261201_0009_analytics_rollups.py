"""analytics rollups: campaign, link and domain counters; event identity; first engagement

The analytics service keeps the rollups; reports read them. Events gain the stream entry
they came from (unique, so a replayed entry is stored once), their delivery, link and
variant, and a machine flag; deliveries gain their first open and click, which make the
unique counts.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-01 10:36:30.678528
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_domain_stats",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("sent", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("delivered", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("hard_bounces", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("soft_bounces", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("complaints", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("opens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("unique_opens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("clicks", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("unique_clicks", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "campaign_id"],
            ["campaigns.workspace_id", "campaigns.id"],
            name=op.f("fk_campaign_domain_stats_workspace_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_campaign_domain_stats_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "campaign_id", "domain", name=op.f("pk_campaign_domain_stats")
        ),
    )
    op.create_table(
        "campaign_link_stats",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("variant", sa.String(length=1), server_default="", nullable=False),
        sa.Column("link_index", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("human_clicks", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("unique_clicks", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("unique_human_clicks", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "campaign_id"],
            ["campaigns.workspace_id", "campaigns.id"],
            name=op.f("fk_campaign_link_stats_workspace_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_campaign_link_stats_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id",
            "campaign_id",
            "variant",
            "link_index",
            name=op.f("pk_campaign_link_stats"),
        ),
    )
    op.create_table(
        "campaign_stats",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("variant", sa.String(length=1), server_default="", nullable=False),
        sa.Column("sent", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("delivered", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("hard_bounces", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("soft_bounces", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("complaints", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("unsubscribes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("opens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("human_opens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("unique_opens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("unique_human_opens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("clicks", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("human_clicks", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("unique_clicks", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("unique_human_clicks", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "campaign_id"],
            ["campaigns.workspace_id", "campaigns.id"],
            name=op.f("fk_campaign_stats_workspace_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_campaign_stats_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "campaign_id", "hour", "variant", name=op.f("pk_campaign_stats")
        ),
    )
    op.create_index(
        "ix_campaign_stats_workspace_hour", "campaign_stats", ["workspace_id", "hour"], unique=False
    )
    op.add_column(
        "deliveries", sa.Column("first_open_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "deliveries", sa.Column("first_human_open_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "deliveries", sa.Column("first_click_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "deliveries", sa.Column("first_human_click_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("events", sa.Column("delivery_id", sa.Uuid(), nullable=True))
    op.add_column("events", sa.Column("stream_id", sa.String(length=32), nullable=True))
    op.add_column("events", sa.Column("machine", sa.String(length=16), nullable=True))
    op.add_column("events", sa.Column("link_index", sa.Integer(), nullable=True))
    op.add_column("events", sa.Column("variant", sa.String(length=1), nullable=True))
    op.create_index("uq_events_stream_id", "events", ["stream_id", "occurred_at"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_events_stream_id", table_name="events")
    op.drop_column("events", "variant")
    op.drop_column("events", "link_index")
    op.drop_column("events", "machine")
    op.drop_column("events", "stream_id")
    op.drop_column("events", "delivery_id")
    op.drop_column("deliveries", "first_human_click_at")
    op.drop_column("deliveries", "first_click_at")
    op.drop_column("deliveries", "first_human_open_at")
    op.drop_column("deliveries", "first_open_at")
    op.drop_index("ix_campaign_stats_workspace_hour", table_name="campaign_stats")
    op.drop_table("campaign_stats")
    op.drop_table("campaign_link_stats")
    op.drop_table("campaign_domain_stats")
