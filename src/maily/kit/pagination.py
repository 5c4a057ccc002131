"""Cursor pagination over time-ordered UUIDv7 keys: stable under inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select

from maily.kit.errors import BadRequest

T = TypeVar("T")
S = TypeVar("S")  # a Select of any row shape


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    after: uuid.UUID | None


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (ValueError, TypeError) as exc:
        raise BadRequest("cursor is not valid; pass the next_cursor of a previous page") from exc


def page_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


def make_page(rows: list[T], params: PageParams, id_of: Callable[[T], uuid.UUID]) -> Page[T]:
    """`rows` was fetched with `limit + 1` so one extra row tells whether more exist."""
    items = rows[: params.limit]
    more = len(rows) > params.limit and bool(items)
    return Page[T](items=items, next_cursor=encode_cursor(id_of(items[-1])) if more else None)


def paginate(query: S, key: Any, page: PageParams, *, newest_first: bool = False) -> S:
    """Keyset page of a SELECT ordered by the UUIDv7 `key`, one row more than the limit."""
    select_ = cast(Select[Any], query)
    if page.after is not None:
        select_ = select_.where(key < page.after if newest_first else key > page.after)
    return cast(S, select_.order_by(key.desc() if newest_first else key).limit(page.limit + 1))
