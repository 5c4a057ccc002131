"""contacts: the tags GIN index holds tagged contacts only

Most contacts carry no tags, yet each one's empty array was a GIN entry, about 3 µs of
every imported row on this index alone. Queries on tags add the predicate (`TAGGED` in models/contact.py) so the partial
index serves them.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_contacts_tags", table_name="contacts")
    op.create_index(
        "ix_contacts_tags",
        "contacts",
        ["tags"],
        postgresql_using="gin",
        postgresql_where=sa.text("tags <> '{}'"),
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_tags", table_name="contacts")
    op.create_index("ix_contacts_tags", "contacts", ["tags"], postgresql_using="gin")
