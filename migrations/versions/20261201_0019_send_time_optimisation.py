"""send-time optimisation: a campaign option to deliver each recipient at their best hour

Each delivery's send_after (the not-before time the senders' lease already honours)
holds the recipient's planned time, so the ledger needs no column of its own.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column(
            "send_time_optimisation", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )


def downgrade() -> None:
    op.drop_column("campaigns", "send_time_optimisation")
