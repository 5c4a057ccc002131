"""campaign trace context: the W3C trace context of the request that started a campaign

The scheduler and the senders open their spans for the campaign as children of it, so
one send is one trace.

Revision ID: 0016
Revises: 0011
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("trace_context", postgresql.JSONB(astext_type=sa.Text())))


def downgrade() -> None:
    op.drop_column("campaigns", "trace_context")
