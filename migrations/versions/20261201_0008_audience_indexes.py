"""Audience indexes and import counters: one email index for uniqueness and prefix search, engagement
columns indexed for segment rules, no index on the email digest.

- The unique constraint on (workspace_id, email) and the separate text_pattern_ops
  index become one unique index with pattern ops: it enforces uniqueness, answers
  equality and ON CONFLICT (workspace_id, email), and serves prefix search.
- Nothing looks contacts up by email_hash (suppression checks probe the suppression
  table), so its index only cost every insert.
- Segment rules on engagement with any campaign read contacts.last_open_at and
  last_click_at instead of scanning events.
- An import's duplicate, role, suppressed and subscription counts are kept on its
  record (they lived only in Redis, for a week).

Revision ID: 0008
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "uq_contacts_workspace_id_email_new",
        "contacts",
        ["workspace_id", "email"],
        unique=True,
        postgresql_ops={"email": "text_pattern_ops"},
    )
    op.drop_constraint("uq_contacts_workspace_id_email", "contacts", type_="unique")
    op.execute(
        "ALTER INDEX uq_contacts_workspace_id_email_new RENAME TO uq_contacts_workspace_id_email"
    )
    op.drop_index("ix_contacts_email_prefix", table_name="contacts")
    op.drop_index("ix_contacts_email_hash", table_name="contacts")
    op.create_index("ix_contacts_last_open", "contacts", ["workspace_id", "last_open_at"])
    op.create_index("ix_contacts_last_click", "contacts", ["workspace_id", "last_click_at"])
    for column in ("rows_duplicate", "rows_role", "rows_suppressed", "subscriptions"):
        op.add_column(
            "contact_imports",
            sa.Column(column, sa.Integer(), server_default="0", nullable=False),
        )


def downgrade() -> None:
    for column in ("rows_duplicate", "rows_role", "rows_suppressed", "subscriptions"):
        op.drop_column("contact_imports", column)
    op.drop_index("ix_contacts_last_click", table_name="contacts")
    op.drop_index("ix_contacts_last_open", table_name="contacts")
    op.create_index("ix_contacts_email_hash", "contacts", ["workspace_id", "email_hash"])
    op.create_index(
        "ix_contacts_email_prefix",
        "contacts",
        ["workspace_id", "email"],
        postgresql_ops={"email": "text_pattern_ops"},
    )
    op.drop_index("uq_contacts_workspace_id_email", table_name="contacts")
    op.create_unique_constraint(
        "uq_contacts_workspace_id_email", "contacts", ["workspace_id", "email"]
    )
