"""deliveries: index leases by lease_expires_at IS NOT NULL instead of status = 'leased'

The senders' result write (UPDATE … FROM unnest(ids) WHERE status = 'leased' AND
lease_owner = …) matched the old index's predicate, so with statistics taken while no
row was leased (the usual state when a campaign starts) PostgreSQL's generic plan
scanned every leased row once per result row: 250,000 comparisons for a batch of 500
with 4,000 rows on lease. The new predicate is implied by the expired-lease lookup
(`lease_expires_at < now()`) but not by the result write, which goes by primary key.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_lease_expires",
        "deliveries",
        ["lease_expires_at"],
        postgresql_where=sa.text("lease_expires_at IS NOT NULL"),
    )
    op.drop_index("ix_deliveries_leased", table_name="deliveries")


def downgrade() -> None:
    op.create_index(
        "ix_deliveries_leased",
        "deliveries",
        ["lease_expires_at"],
        postgresql_where=sa.text("status = 'leased'"),
    )
    op.drop_index("ix_deliveries_lease_expires", table_name="deliveries")
