"""The live WebSocket of a workspace, and the tickets browsers open it with.

Close codes: 4401 no or bad credential, 4403 no access to the workspace or no
`reports:read`, 1013 the socket read too slowly and messages were dropped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, WebSocket, status
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect, WebSocketState

from maily.api.state import app_state
from maily.auth.auth import WorkspaceAccess
from maily.auth.service import Principal, WorkspaceContext
from maily.kit.db import transaction
from maily.kit.errors import Forbidden, NotAuthenticated, NotFound
from maily.kit.logging import get_logger
from maily.realtime.hub import LiveHub, LiveSocket
from maily.realtime.schemas import LiveTicketOut
from maily.realtime.service import (
    LIVE_PERMISSION,
    SUBPROTOCOL,
    LiveAccess,
    issue_ticket,
    token_from_subprotocols,
)

router = APIRouter(prefix="/api/v1", tags=["realtime"])
LIVE = "/workspaces/{workspace_id}/live"
LiveRead = Annotated[WorkspaceContext, Depends(WorkspaceAccess(LIVE_PERMISSION))]

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 1013  # "try again later"
_log = get_logger("maily.realtime")


def live_hub(conn: HTTPConnection) -> LiveHub:
    """This process's hub, made on first use (one per application)."""
    hub: LiveHub | None = getattr(conn.app.state, "live_hub", None)
    if hub is None:
        state = app_state(conn)
        settings = state.settings
        hub = LiveHub(state.redis, settings.realtime, settings.analytics.live_channel_prefix)
        conn.app.state.live_hub = hub
    return hub


@router.post(
    f"{LIVE}/tickets", operation_id="live_tickets_create", status_code=status.HTTP_201_CREATED
)
async def create_ticket(ctx: LiveRead, request: Request) -> LiveTicketOut:
    """A one-time ticket to open the live WebSocket from a browser, which cannot send
    an Authorization header there. Valid for a few seconds."""
    state = app_state(request)
    ttl = state.settings.realtime.ticket_ttl_seconds
    ticket = await issue_ticket(state.redis, ctx, ttl)
    return LiveTicketOut(
        ticket=ticket,
        expires_in_seconds=ttl,
        path=f"/api/v1/workspaces/{ctx.workspace_id}/live",
    )


async def _authorise(
    websocket: WebSocket, workspace_id: uuid.UUID, ticket: str | None
) -> tuple[int, str] | float:
    """How many seconds the socket may stay open, else (close code, reason)."""
    state = app_state(websocket)
    token = token_from_subprotocols(websocket.scope.get("subprotocols", []))
    header = websocket.headers.get("authorization", "")
    if token is None and header.lower().startswith("bearer "):
        token = header[7:].strip() or None
    if token is None and not ticket:
        return CLOSE_UNAUTHENTICATED, "authentication required: a token subprotocol or a ticket"
    try:
        async with transaction(state.sessionmaker) as session:
            access = LiveAccess(session, state.settings, state.redis)
            principal: Principal
            if token is not None:
                principal = await access.principal_from_token(token)
            else:
                assert ticket is not None
                principal = await access.principal_from_ticket(ticket, workspace_id)
            await access.authorise(principal, workspace_id)
            expires_at = access.token_expiry(token)
    except NotAuthenticated as exc:
        return CLOSE_UNAUTHENTICATED, exc.message
    except NotFound:
        return CLOSE_FORBIDDEN, "no access to this workspace"
    except Forbidden as exc:
        return CLOSE_FORBIDDEN, exc.message
    lifetime = float(state.settings.realtime.max_socket_seconds)
    if expires_at is not None:
        lifetime = min(lifetime, (expires_at - datetime.now(UTC)).total_seconds())
    return max(lifetime, 0.0)


@router.websocket(LIVE)
async def live(
    websocket: WebSocket,
    workspace_id: uuid.UUID,
    ticket: Annotated[str | None, Query(max_length=128)] = None,
) -> None:
    """Campaign progress and state changes of one workspace, as JSON text messages.
    The first message is `{"type": "ready"}`: from then on nothing published is missed."""
    offered = websocket.scope.get("subprotocols", [])
    # The token subprotocol is never echoed: only the protocol name is.
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    allowed = await _authorise(websocket, workspace_id, ticket)
    if isinstance(allowed, tuple):
        await websocket.close(code=allowed[0], reason=allowed[1])
        return
    hub = live_hub(websocket)
    socket = hub.register(workspace_id)
    try:
        await hub.start()
        await websocket.send_text(json.dumps({"type": "ready", "workspace_id": str(workspace_id)}))
        await _pump(websocket, socket, allowed)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unregister(socket)


async def _pump(websocket: WebSocket, socket: LiveSocket, lifetime: float) -> None:
    """Send queued messages until the client leaves, falls too far behind, or its
    credential runs out (`lifetime` seconds)."""

    async def send() -> None:
        while True:
            await websocket.send_text(await socket.queue.get())

    async def receive() -> None:
        # The client says nothing we act on; reading is how a disconnect is seen.
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return

    expiry = asyncio.create_task(asyncio.sleep(lifetime))  # a timer, not a wait for work
    tasks = {
        asyncio.create_task(send()),
        asyncio.create_task(receive()),
        asyncio.create_task(socket.too_slow.wait()),
        expiry,
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
    connected = websocket.application_state is WebSocketState.CONNECTED
    if connected and socket.too_slow.is_set():
        _log.info("live socket closed: too slow", dropped=socket.dropped)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=CLOSE_TOO_SLOW, reason="too slow: messages were dropped")
    elif connected and expiry in done:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(
                code=CLOSE_UNAUTHENTICATED,
                reason="the session expired: reconnect with a fresh token or ticket",
            )
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, WebSocketDisconnect | RuntimeError):
                raise exc  # type: ignore[misc]
