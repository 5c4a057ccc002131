"""bounces and complaints

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 10:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bounces",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_key", sa.String(length=255), nullable=False),
        sa.Column("code", sa.String(length=32), server_default="", nullable=False),
        sa.Column("diagnostic", sa.String(length=500), server_default="", nullable=False),
        sa.Column("effect", sa.String(length=16), server_default="recorded", nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_bounces_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "delivery_id"],
            ["deliveries.workspace_id", "deliveries.id"],
            name=op.f("fk_bounces_workspace_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_bounces")),
        sa.UniqueConstraint(
            "workspace_id",
            "source",
            "event_key",
            name=op.f("uq_bounces_workspace_id_source_event_key"),
        ),
    )
    op.create_index(
        "ix_bounces_contact",
        "bounces",
        ["workspace_id", "contact_id", "kind", "occurred_at"],
        unique=False,
    )
    op.create_index("ix_bounces_delivery", "bounces", ["workspace_id", "delivery_id"], unique=False)
    op.create_index("ix_deliveries_id", "deliveries", ["id"], unique=False)
    op.create_index(
        "ix_deliveries_provider_message_id",
        "deliveries",
        ["provider_message_id"],
        unique=False,
        postgresql_where=sa.text("provider_message_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_provider_message_id", table_name="deliveries")
    op.drop_index("ix_deliveries_id", table_name="deliveries")
    op.drop_index("ix_bounces_delivery", table_name="bounces")
    op.drop_index("ix_bounces_contact", table_name="bounces")
    op.drop_table("bounces")
