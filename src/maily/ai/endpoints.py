"""HTTP routes of the AI assistant: drafts, revisions, subject lines, personalisation
(JSON, or Server-Sent Events with `Accept: text/event-stream`) and the suggestions
they leave, which become templates only when a person accepts them."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.responses import Response

from maily.ai import schemas
from maily.ai.auth import AIUse
from maily.ai.client import AIModelUnavailable, AssistantClient
from maily.ai.service import AssistantService, TaskRun
from maily.api.deps import SessionDep, SettingsDep, get_session
from maily.api.state import app_state
from maily.auth.service import WorkspaceContext
from maily.kit.db import AsyncSession
from maily.kit.errors import MailyError, ServiceUnavailable
from maily.kit.pagination import Page, PageParams, make_page, page_params
from maily.kit.tracing import configure_tracing


@asynccontextmanager
async def _close_client(app: FastAPI) -> AsyncIterator[None]:
    try:
        yield
    finally:
        client = getattr(app.state, "ai_client", None)
        if client is not None:
            await client.close()


router = APIRouter(prefix="/api/v1", tags=["ai"], lifespan=_close_client)
AI = "/workspaces/{workspace_id}/ai"
SUGGESTION = f"{AI}/suggestions/{{suggestion_id}}"
Paging = Annotated[PageParams, Depends(page_params)]
# The request's own transaction, kept open while a response streams (scope "request"):
# a task's suggestion is written when its last event arrives, after the headers went out.
StreamSession = Annotated[AsyncSession, Depends(get_session)]


def assistant_client(request: Request) -> AssistantClient:
    """The process's one client of `maily ai` (one gRPC channel), made on first use."""
    app = request.app
    client: AssistantClient | None = getattr(app.state, "ai_client", None)
    if client is None:
        settings = app_state(request).settings
        client = AssistantClient(settings.ai, tracer_provider=configure_tracing(settings, "api"))
        app.state.ai_client = client
    return client


Client = Annotated[AssistantClient, Depends(assistant_client)]

TASK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The finished task as JSON, or with `Accept: text/event-stream` its "
        "events as they happen: `progress` events, then one `result` "
        "({task_id, suggestion_id, result}) or `error` ({task_id, message, reason})",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    422: {"description": "The task is not valid"},
    503: {"description": "The AI service is not answering, or no model provider answered"},
}


def _service(
    session: AsyncSession, settings: Any, client: AssistantClient, request: Request
) -> AssistantService:
    return AssistantService(session, settings, client, app_state(request).redis)


def _wants_events(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


async def _event_stream(run: TaskRun, store: AsyncSession) -> AsyncIterator[bytes]:
    async for event in run.events(store):
        if event.kind not in ("result", "error"):
            yield _sse("progress", event.as_json())
    outcome = run.outcome
    assert outcome is not None
    yield _sse("result" if outcome.suggestion_id else "error", outcome.as_json())


def _failure(reason: str, message: str) -> MailyError:
    if reason == "model_unavailable":
        return AIModelUnavailable(message)
    error = ServiceUnavailable(message)
    error.code = reason if reason.startswith("ai_") else "ai_task_failed"
    return error


async def _respond(request: Request, run: TaskRun, store: AsyncSession) -> Response | Any:
    if _wants_events(request):
        return StreamingResponse(
            _event_stream(run, store),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    events = [event async for event in run.events(store)]
    outcome = run.outcome
    assert outcome is not None
    if outcome.suggestion_id is None or outcome.result is None:
        raise _failure(outcome.reason, outcome.message)
    return schemas.AITaskOut(
        task_id=run.task.task_id,
        suggestion_id=outcome.suggestion_id,
        events=[
            schemas.AIEventOut(**event.as_json())
            for event in events
            if event.kind not in ("result", "error")
        ],
        result=outcome.result,
    )


async def _run(
    request: Request,
    store: AsyncSession,
    service: AssistantService,
    ctx: WorkspaceContext,
    task: Any,
    extra: dict[str, Any] | None = None,
) -> Response | Any:
    run = await service.start(ctx, task, extra)
    return await _respond(request, run, store)


@router.post(
    f"{AI}/drafts",
    operation_id="ai_drafts_create",
    response_model=schemas.AITaskOut,
    responses=TASK_RESPONSES,
)
async def create_draft(
    store: StreamSession,
    body: schemas.DraftIn,
    ctx: AIUse,
    session: SessionDep,
    settings: SettingsDep,
    client: Client,
    request: Request,
) -> Any:
    """A campaign draft from a brief, in the workspace's brand: subject lines, MJML
    body, checks. Kept as a suggestion until accepted."""
    service = _service(session, settings, client, request)
    return await _run(request, store, service, ctx, await service.draft_task(ctx, body))


@router.post(
    f"{AI}/revisions",
    operation_id="ai_revisions_create",
    response_model=schemas.AITaskOut,
    responses=TASK_RESPONSES,
)
async def create_revision(
    store: StreamSession,
    body: schemas.RevisionIn,
    ctx: AIUse,
    session: SessionDep,
    settings: SettingsDep,
    client: Client,
    request: Request,
) -> Any:
    """Rewrite, shorten, translate or change the tone of a body, or of a stored
    template (`template_id`; needs templates:read)."""
    service = _service(session, settings, client, request)
    task, extra = await service.revision_task(ctx, body)
    return await _run(request, store, service, ctx, task, extra)


@router.post(
    f"{AI}/subject-lines",
    operation_id="ai_subject_lines_create",
    response_model=schemas.AITaskOut,
    responses=TASK_RESPONSES,
)
async def create_subject_lines(
    store: StreamSession,
    body: schemas.SubjectLinesIn,
    ctx: AIUse,
    session: SessionDep,
    settings: SettingsDep,
    client: Client,
    request: Request,
) -> Any:
    """Ranked subject lines (with preheaders) for a brief or a body."""
    service = _service(session, settings, client, request)
    return await _run(request, store, service, ctx, await service.subject_lines_task(ctx, body))


@router.post(
    f"{AI}/personalisation",
    operation_id="ai_personalisation_create",
    response_model=schemas.AITaskOut,
    responses=TASK_RESPONSES,
)
async def create_personalisation(
    store: StreamSession,
    body: schemas.PersonalisationIn,
    ctx: AIUse,
    session: SessionDep,
    settings: SettingsDep,
    client: Client,
    request: Request,
) -> Any:
    """Where and how to personalise a body with the workspace's merge fields."""
    service = _service(session, settings, client, request)
    return await _run(request, store, service, ctx, await service.personalisation_task(ctx, body))


# -- suggestions ---------------------------------------------------------------------


@router.get(f"{AI}/suggestions", operation_id="ai_suggestions_list")
async def list_suggestions(
    ctx: AIUse,
    paging: Paging,
    session: SessionDep,
    settings: SettingsDep,
    status_: Annotated[
        Literal["ready", "accepted", "discarded"] | None, Query(alias="status")
    ] = None,
    kind: Annotated[
        Literal["draft_campaign", "revise_template", "subject_lines", "personalisation"] | None,
        Query(),
    ] = None,
) -> Page[schemas.SuggestionOut]:
    """The workspace's suggestions, newest first."""
    rows = await AssistantService(session, settings).suggestions(ctx, paging, status_, kind)
    return make_page(
        [schemas.SuggestionOut.model_validate(r) for r in rows], paging, lambda s: s.id
    )


@router.get(SUGGESTION, operation_id="ai_suggestions_get")
async def get_suggestion(
    suggestion_id: uuid.UUID, ctx: AIUse, session: SessionDep, settings: SettingsDep
) -> schemas.SuggestionOut:
    found = await AssistantService(session, settings).suggestion(ctx, suggestion_id)
    return schemas.SuggestionOut.model_validate(found)


@router.post(
    f"{SUGGESTION}/accept",
    operation_id="ai_suggestions_accept",
    status_code=status.HTTP_201_CREATED,
    responses={
        403: {"description": "Accepting needs templates:write too"},
        409: {"description": "Decided already, or a kind that is not a template"},
        422: {"description": "The generated template does not compile or render"},
    },
)
async def accept_suggestion(
    suggestion_id: uuid.UUID,
    ctx: AIUse,
    session: SessionDep,
    settings: SettingsDep,
    body: schemas.AcceptIn | None = None,
) -> schemas.AcceptedOut:
    """Make a template of a draft or revision (validated like any template). Nothing
    generated is sent before this."""
    template, suggestion = await AssistantService(session, settings).accept(
        ctx, suggestion_id, body or schemas.AcceptIn()
    )
    return schemas.AcceptedOut(
        template_id=template.id, suggestion=schemas.SuggestionOut.model_validate(suggestion)
    )


@router.post(f"{SUGGESTION}/discard", operation_id="ai_suggestions_discard")
async def discard_suggestion(
    suggestion_id: uuid.UUID, ctx: AIUse, session: SessionDep, settings: SettingsDep
) -> schemas.SuggestionOut:
    found = await AssistantService(session, settings).discard(ctx, suggestion_id)
    return schemas.SuggestionOut.model_validate(found)
