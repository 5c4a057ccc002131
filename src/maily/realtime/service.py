"""Who may open a live socket: the caller's credential, redeemed tickets, the permission.

Browsers cannot set headers on a WebSocket, so a socket presents its credential in
one of three ways: a subprotocol `maily.token.<access token or API key>` next to
`maily.live.v1`; a one-time ticket from `POST …/live/tickets` in the `ticket` query
parameter; or, for other clients, the usual `Authorization: Bearer` header."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from datetime import datetime

from redis.asyncio import Redis

from maily.auth import security
from maily.auth.repository import APIKeyRepository, UserRepository
from maily.auth.security import API_KEY_PREFIX
from maily.auth.service import AuthService, Principal, WorkspaceContext, utcnow
from maily.config import Settings
from maily.kit.db import AsyncSession
from maily.kit.errors import Forbidden, NotAuthenticated

LIVE_PERMISSION = "reports:read"
SUBPROTOCOL = "maily.live.v1"
TOKEN_SUBPROTOCOL_PREFIX = "maily.token."  # noqa: S105 - a prefix, not a secret
_TICKET_PREFIX = "maily:live-ticket:"


def _ticket_key(ticket: str) -> str:
    # Only a digest is stored: reading Redis does not hand out working tickets.
    return _TICKET_PREFIX + hashlib.sha256(ticket.encode("utf-8")).hexdigest()


async def issue_ticket(redis: Redis, ctx: WorkspaceContext, ttl_seconds: int) -> str:
    """A one-time ticket for one live socket of `ctx`'s workspace, valid `ttl_seconds`."""
    ticket = secrets.token_urlsafe(32)
    principal = ctx.principal
    holder = (
        {"api_key_id": str(principal.api_key.id)}
        if principal.api_key is not None
        else {"user_id": str(ctx.user_id)}
    )
    value = json.dumps({"workspace_id": str(ctx.workspace_id), **holder})
    await redis.set(_ticket_key(ticket), value, ex=ttl_seconds)
    return ticket


class LiveAccess:
    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis) -> None:
        self.session = session
        self.settings = settings
        self.redis = redis
        self.auth = AuthService(session, settings)

    async def principal_from_token(self, token: str) -> Principal:
        if token.startswith(API_KEY_PREFIX):
            return Principal(api_key=await self.auth.api_key_from_secret(token))
        return Principal(user=await self.auth.user_from_access_token(token))

    def token_expiry(self, token: str | None) -> datetime | None:
        """When an (already checked) access token expires; None for keys and tickets."""
        if token is None or token.startswith(API_KEY_PREFIX):
            return None
        try:
            return security.decode_access_token(self.settings, token).expires_at
        except security.InvalidToken:
            return utcnow()

    async def principal_from_ticket(self, ticket: str, workspace_id: uuid.UUID) -> Principal:
        raw = await self.redis.getdel(_ticket_key(ticket))  # one use only
        if raw is None:
            raise NotAuthenticated("the ticket is not valid, was used already or has expired")
        claims = json.loads(raw)
        if claims.get("workspace_id") != str(workspace_id):
            raise NotAuthenticated("the ticket was issued for another workspace")
        if "api_key_id" in claims:
            key = await APIKeyRepository(self.session).get(
                workspace_id, uuid.UUID(claims["api_key_id"])
            )
            if (
                key is None
                or key.revoked_at is not None
                or (key.expires_at is not None and key.expires_at <= utcnow())
            ):
                raise NotAuthenticated("API key is not valid")
            return Principal(api_key=key)
        user = await UserRepository(self.session).get(uuid.UUID(claims["user_id"]))
        if user is None or not user.is_active:
            raise NotAuthenticated("the ticket's user is no longer active")
        return Principal(user=user)

    async def authorise(self, principal: Principal, workspace_id: uuid.UUID) -> WorkspaceContext:
        """The caller's context in the workspace; NotFound without access, Forbidden
        without `reports:read`."""
        ctx = await self.auth.workspace_context(principal, workspace_id)
        if LIVE_PERMISSION not in ctx.permissions:
            who = f"the {ctx.role.value} role" if ctx.role else "this API key"
            raise Forbidden(f"{who} does not allow {LIVE_PERMISSION}")
        return ctx


def token_from_subprotocols(offered: list[str]) -> str | None:
    for protocol in offered:
        if protocol.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            return protocol[len(TOKEN_SUBPROTOCOL_PREFIX) :] or None
    return None
