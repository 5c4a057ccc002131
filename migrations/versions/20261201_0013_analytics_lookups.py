"""analytics lookups: a message's events besides opens

(Deliveries by id, which the consumer needs to resolve a batch of stream entries, come
with 0010.) The scanner check ("several links of one message within a second or
two"), per-link unique clicks and the once-per-message bounce counts look up what is
stored for a delivery besides opens (the bulk of the table, left out of the index).

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-01 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_events_delivery",
        "events",
        ["delivery_id", "occurred_at"],
        unique=False,
        postgresql_where=sa.text("type <> 'open'"),
    )


def downgrade() -> None:
    op.drop_index("ix_events_delivery", table_name="events")
