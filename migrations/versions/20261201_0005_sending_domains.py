"""sending domains

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 07:26:59.766782
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sending_domains",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("dkim_selector", sa.String(length=63), nullable=False),
        sa.Column("dkim_algorithm", sa.String(length=16), nullable=False),
        # A Fernet token (maily.kit.crypto.EncryptedText).
        sa.Column("dkim_private_key", sa.Text(), nullable=False),
        sa.Column("dkim_public_key", sa.Text(), nullable=False),
        sa.Column("return_path_domain", sa.String(length=253), nullable=False),
        sa.Column(
            "dns_checks",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "dkim_algorithm IN ('rsa-sha256', 'ed25519-sha256')",
            name=op.f("ck_sending_domains_dkim_algorithm"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_sending_domains_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_sending_domains")),
        sa.UniqueConstraint(
            "workspace_id", "domain", name=op.f("uq_sending_domains_workspace_id_domain")
        ),
    )
    op.create_table(
        "senders",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sending_domain_id", sa.Uuid(), nullable=False),
        sa.Column("from_name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("from_email", sa.String(length=320), nullable=False),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
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
        sa.ForeignKeyConstraint(
            ["workspace_id", "sending_domain_id"],
            ["sending_domains.workspace_id", "sending_domains.id"],
            name=op.f("fk_senders_workspace_id_sending_domains"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_senders_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_senders")),
    )
    op.create_index(
        "ix_senders_sending_domain", "senders", ["workspace_id", "sending_domain_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_senders_sending_domain", table_name="senders")
    op.drop_table("senders")
    op.drop_table("sending_domains")
