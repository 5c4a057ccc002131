"""analytics lookups: deliveries by id, a message's events besides opens

The stream names a delivery by its id alone, while the ledger's primary key leads with
the workspace: the consumer resolves a batch of ids with one query, which needs an
index on the id. The scanner check ("several links of one message within a second or
two"), per-link unique clicks and the once-per-message bounce counts look up what is
stored for a delivery besides opens (the bulk of the table, left out of the index).

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-01 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deliveries_id", "deliveries", ["id"], unique=False)
    op.create_index(
        "ix_events_delivery",
        "events",
        ["delivery_id", "occurred_at"],
        unique=False,
        postgresql_where=sa.text("type <> 'open'"),
    )


def downgrade() -> None:
    op.drop_index("ix_events_delivery", table_name="events")
    op.drop_index("ix_deliveries_id", table_name="deliveries")
