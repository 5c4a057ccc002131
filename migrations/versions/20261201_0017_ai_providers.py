"""AI providers: each workspace's model endpoints (key encrypted) and per-call usage

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ai_providers",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("base_url", sa.String(length=2048), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        # A Fernet token (maily.kit.crypto.EncryptedText).
        sa.Column("api_key", sa.Text(), nullable=True),
        sa.Column("api_key_hint", sa.String(length=4), nullable=True),
        sa.Column("priority", sa.Integer(), server_default="100", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "input_price_per_mtok",
            sa.Numeric(precision=12, scale=6),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "output_price_per_mtok",
            sa.Numeric(precision=12, scale=6),
            server_default="0",
            nullable=False,
        ),
        sa.Column("timeout_seconds", sa.Float(), server_default="60", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('openai', 'anthropic')", name=op.f("ck_ai_providers_kind")),
        sa.CheckConstraint("timeout_seconds > 0", name=op.f("ck_ai_providers_timeout_positive")),
        sa.CheckConstraint(
            "input_price_per_mtok >= 0 AND output_price_per_mtok >= 0",
            name=op.f("ck_ai_providers_prices_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ai_providers_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_ai_providers")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_ai_providers_workspace_id_name")),
    )
    op.create_table(
        "ai_usage",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("provider_name", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("task_kind", sa.String(length=40), nullable=False),
        sa.Column("requests", sa.Integer(), server_default="1", nullable=False),
        sa.Column("input_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "cost_usd", sa.Numeric(precision=18, scale=9), server_default="0", nullable=False
        ),
        sa.Column("call_key", sa.String(length=64), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ai_usage_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_ai_usage")),
        sa.UniqueConstraint(
            "workspace_id", "call_key", name=op.f("uq_ai_usage_workspace_id_call_key")
        ),
    )
    op.create_index("ix_ai_usage_workspace_at", "ai_usage", ["workspace_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_ai_usage_workspace_at", table_name="ai_usage")
    op.drop_table("ai_usage")
    op.drop_table("ai_providers")
