"""Declarative base with a naming convention, UUID keys and timestamps."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


_uuid_lock = threading.Lock()
_last_uuid = 0


def new_uuid() -> uuid.UUID:
    """A UUIDv7: time-ordered, so primary-key inserts stay append-only in the B-tree.

    Monotonic within a process (RFC 9562, 6.2): ids made in the same millisecond follow
    each other in the order they were made, so "newest first by id" holds for them too."""
    return uuid.UUID(int=new_uuid_run(1))


_RAND_B = (1 << 62) - 1


def new_uuid_run(count: int) -> int:
    """The first (as an int) of `count` consecutive UUIDv7s, all reserved: `first + i`
    for i < count is a valid id that neither `new_uuid` nor another run in this process
    hands out again (RFC 9562's method 2, a counter in the random bits)."""
    if count < 1:
        raise ValueError("a run holds at least one id")
    global _last_uuid
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a
    value |= 0b10 << 62  # RFC 9562 variant
    # A fresh run starts in the lower half of rand_b, so counting up from it does not
    # reach the variant bits.
    value |= rand & (_RAND_B >> 1 if count > 1 else _RAND_B)
    with _uuid_lock:
        if value <= _last_uuid:
            # The same millisecond with lower random bits (or the clock stepped back):
            # one past the last id.
            value = _last_uuid + 1
        if (value & _RAND_B) + count - 1 > _RAND_B or (value >> 62) & 0b11 != 0b10:
            # The run would carry out of rand_b: start it at the next rand_a, keeping
            # the variant bits.
            value = ((value >> 64) + 1) << 64 | (0b10 << 62)
        _last_uuid = value + count - 1
    return value


class UUIDMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid, sort_order=-5)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class TenantMixin:
    """A table owned by one workspace. Its primary key leads with `workspace_id`,
    so the schema can be distributed by workspace (Citus) when one server is outgrown."""

    @declared_attr
    def workspace_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True, sort_order=-10
        )
