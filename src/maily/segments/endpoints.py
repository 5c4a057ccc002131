"""HTTP routes for saved segments and live audience counts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from maily.api.deps import SessionDep
from maily.kit.errors import Unprocessable
from maily.kit.pagination import Page, PageParams, make_page, page_params
from maily.segments import schemas
from maily.segments.auth import SegmentsRead, SegmentsWrite
from maily.segments.rules import validation_details
from maily.segments.service import SegmentService


class RulePathRoute(APIRoute):
    """Answers invalid input with the project's error shape, each detail carrying a
    readable `path` (`rules.all[2].any[0].value`) and no union tags in its `loc`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise Unprocessable(
                    "request is not valid", details=validation_details(exc.errors())
                ) from exc

        return handle


router = APIRouter(prefix="/api/v1", route_class=RulePathRoute, tags=["segments"])
Paging = Annotated[PageParams, Depends(page_params)]
BASE = "/workspaces/{workspace_id}/segments"


def _out(segment: object) -> schemas.SegmentOut:
    return schemas.SegmentOut.model_validate(segment)


@router.get(BASE, operation_id="segments_list")
async def list_segments(
    ctx: SegmentsRead, paging: Paging, session: SessionDep
) -> Page[schemas.SegmentOut]:
    segments = await SegmentService(session).list(ctx, paging)
    return make_page([_out(s) for s in segments], paging, lambda s: s.id)


@router.post(BASE, operation_id="segments_create", status_code=status.HTTP_201_CREATED)
async def create_segment(
    body: schemas.SegmentCreate, ctx: SegmentsWrite, session: SessionDep
) -> schemas.SegmentOut:
    """Save a segment. Rules that do not fit the workspace are refused with 422, each
    problem naming the path of its node."""
    return _out(await SegmentService(session).create(ctx, body))


@router.post(f"{BASE}/count", operation_id="segments_count_rules")
async def count_rules(
    body: schemas.RulesQuery, ctx: SegmentsRead, session: SessionDep
) -> schemas.SegmentCount:
    """Count the contacts an unsaved rule tree matches, and how many of them are sendable."""
    return await SegmentService(session).count(ctx, body.rules)


@router.get(f"{BASE}/{{segment_id}}", operation_id="segments_get")
async def get_segment(
    segment_id: uuid.UUID, ctx: SegmentsRead, session: SessionDep
) -> schemas.SegmentOut:
    return _out(await SegmentService(session).get(ctx, segment_id))


@router.patch(f"{BASE}/{{segment_id}}", operation_id="segments_update")
async def update_segment(
    segment_id: uuid.UUID, body: schemas.SegmentUpdate, ctx: SegmentsWrite, session: SessionDep
) -> schemas.SegmentOut:
    return _out(await SegmentService(session).update(ctx, segment_id, body))


@router.delete(
    f"{BASE}/{{segment_id}}",
    operation_id="segments_delete",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_segment(segment_id: uuid.UUID, ctx: SegmentsWrite, session: SessionDep) -> None:
    await SegmentService(session).delete(ctx, segment_id)


@router.get(
    f"{BASE}/{{segment_id}}/count",
    operation_id="segments_count",
    responses={409: {"description": "The segment no longer fits the workspace's fields"}},
)
async def count_segment(
    segment_id: uuid.UUID, ctx: SegmentsRead, session: SessionDep
) -> schemas.SegmentCount:
    """Count the contacts a saved segment matches now, and how many of them are sendable."""
    return await SegmentService(session).count_saved(ctx, segment_id)
