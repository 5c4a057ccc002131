"""A workspace: the tenant every audience, campaign and event belongs to."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from maily.kit.db.base import Base, TimestampMixin, UUIDMixin


class Workspace(UUIDMixin, TimestampMixin, Base):
    __tablename__ = "workspaces"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    slug: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    # CAN-SPAM: every campaign must carry the sender's physical postal address.
    postal_address: Mapped[str] = mapped_column(String(500), nullable=False, default="")
