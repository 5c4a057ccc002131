"""pending_events: bounce and provider events held until the event stream has them

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_events")),
    )
    op.create_index("ix_pending_events_created_at", "pending_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_pending_events_created_at", table_name="pending_events")
    op.drop_table("pending_events")
