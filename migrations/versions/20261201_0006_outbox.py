"""outbox messages

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 07:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=True),
        sa.Column("envelope_from", sa.String(length=320), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_outbox_messages_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_outbox_messages")),
    )
    op.create_index(
        "ix_outbox_messages_delivery",
        "outbox_messages",
        ["workspace_id", "delivery_id"],
        unique=False,
    )
    op.create_index(
        "ix_outbox_messages_recipient",
        "outbox_messages",
        ["workspace_id", "recipient", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_recipient", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_delivery", table_name="outbox_messages")
    op.drop_table("outbox_messages")
