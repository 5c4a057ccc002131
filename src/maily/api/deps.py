"""Request-scoped dependencies shared by every domain: the transaction, the caller, rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from maily.api.state import AppState, app_state
from maily.auth.security import API_KEY_PREFIX
from maily.auth.service import AuthService, Principal
from maily.config import Settings
from maily.kit.db import AsyncSession, transaction
from maily.kit.errors import Forbidden, NotAuthenticated, TooManyRequests
from maily.models import User

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token",
    auto_error=False,
    description="A JWT access token from /api/v1/auth/token, or an API key (mly_…).",
)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One request, one transaction: committed before the response is sent."""
    async with transaction(app_state(request).sessionmaker) as session:
        yield session


State = Annotated[AppState, Depends(app_state)]
# scope="function": commit happens before the response goes out, so a failed
# commit becomes an error response instead of a 200 for lost work.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def get_settings(request: Request) -> Settings:
    return app_state(request).settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    state = app_state(request)
    if not token:
        raise NotAuthenticated()
    service = AuthService(session, state.settings)
    if token.startswith(API_KEY_PREFIX):
        principal = Principal(api_key=await service.api_key_from_secret(token))
    else:
        principal = Principal(user=await service.user_from_access_token(token))
    limits = state.settings.rate_limit
    if limits.enabled:
        result = await state.rate_limiter.hit(
            f"api:{principal.key}", limits.api_requests, limits.api_window_seconds
        )
        if not result.allowed:
            raise TooManyRequests(result.retry_after_seconds)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_current_user(principal: PrincipalDep) -> User:
    if principal.user is None:
        raise Forbidden("this operation needs a signed-in user; API keys cannot use it")
    return principal.user


CurrentUser = Annotated[User, Depends(get_current_user)]
