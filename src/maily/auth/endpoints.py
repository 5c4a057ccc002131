"""HTTP routes for sign-up, sign-in, sessions, workspaces, team, API keys and invitations."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import JSONResponse

from maily.api.deps import (
    CurrentUser,
    SessionDep,
    SettingsDep,
    State,
    get_principal,
    oauth2_scheme,
)
from maily.api.errors import error_body
from maily.auth import schemas
from maily.auth.auth import (
    APIKeysRead,
    APIKeysWrite,
    MembersRead,
    MembersWrite,
    WorkspaceDelete,
    WorkspaceRead,
    WorkspaceWrite,
)
from maily.auth.permissions import CATALOGUE, ROLE_PERMISSIONS, Role
from maily.auth.service import AuthService, RefreshTokenReused
from maily.kit.errors import BadRequest, Forbidden, TooManyRequests
from maily.kit.pagination import Page, PageParams, make_page, page_params
from maily.kit.schemas import contains_nul

router = APIRouter(prefix="/api/v1")
Paging = Annotated[PageParams, Depends(page_params)]


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _limit(state: State, checks: list[tuple[str, int]]) -> None:
    limits = state.settings.rate_limit
    if not limits.enabled:
        return
    for key, limit in checks:
        result = await state.rate_limiter.hit(key, limit, limits.sign_in_window_seconds)
        if not result.allowed:
            raise TooManyRequests(result.retry_after_seconds)


async def _limit_sign_in(state: State, request: Request, email: str) -> None:
    attempts = state.settings.rate_limit.sign_in_attempts
    await _limit(
        state,
        [
            (f"signin:email:{email.strip().lower()}", attempts),
            (f"signin:ip:{_client_ip(request)}", attempts * 5),
        ],
    )


def _reused_response(request: Request) -> JSONResponse:
    # Returned, not raised: the family's revocation must commit.
    return JSONResponse(
        error_body(
            request,
            "refresh_token_reused",
            "this refresh token was already used; every session started with it has been ended",
        ),
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


# -- sign-up and sessions -------------------------------------------------------


@router.post(
    "/auth/signup",
    operation_id="auth_sign_up",
    status_code=status.HTTP_201_CREATED,
    tags=["auth"],
    responses={403: {"description": "Sign-up is switched off"}},
)
async def sign_up(
    body: schemas.SignUp, request: Request, session: SessionDep, state: State
) -> schemas.TokenResponse:
    """Create an account and its first workspace, and sign in."""
    if not state.settings.security.allow_signup:
        raise Forbidden("sign-up is switched off on this server; ask for an invitation")
    attempts = state.settings.rate_limit.sign_in_attempts
    await _limit(state, [(f"signup:ip:{_client_ip(request)}", attempts * 5)])
    service = AuthService(session, state.settings)
    user, _ = await service.sign_up(body.email, body.password, body.name, body.workspace_name)
    return await service.issue_tokens(user)


@router.post("/auth/token", operation_id="auth_token", tags=["auth"])
async def token(
    request: Request,
    session: SessionDep,
    state: State,
    grant_type: Annotated[Literal["password", "refresh_token"], Form()] = "password",
    username: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    refresh_token: Annotated[str, Form(max_length=200)] = "",
) -> schemas.TokenResponse:
    """OAuth2 token endpoint: the password grant signs in, the refresh_token grant rotates."""
    if contains_nul([username, password, refresh_token]):
        raise BadRequest("text must not contain NUL characters")
    service = AuthService(session, state.settings)
    if grant_type == "refresh_token":
        if not refresh_token:
            raise BadRequest("refresh_token is required for grant_type=refresh_token")
        try:
            return await service.refresh(refresh_token)
        except RefreshTokenReused:
            return _reused_response(request)  # type: ignore[return-value]
    if not username or not password:
        raise BadRequest("username and password are required for grant_type=password")
    await _limit_sign_in(state, request, username)
    user = await service.authenticate(username, password)
    await state.rate_limiter.reset(f"signin:email:{user.email}")
    return await service.issue_tokens(user)


@router.post("/auth/refresh", operation_id="auth_refresh", tags=["auth"])
async def refresh(
    body: schemas.RefreshRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> schemas.TokenResponse:
    """Exchange a refresh token for new tokens; the old one stops working."""
    try:
        return await AuthService(session, settings).refresh(body.refresh_token)
    except RefreshTokenReused:
        return _reused_response(request)  # type: ignore[return-value]


@router.post(
    "/auth/logout",
    operation_id="auth_logout",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["auth"],
)
async def logout(body: schemas.RefreshRequest, session: SessionDep, settings: SettingsDep) -> None:
    """End the session this refresh token belongs to."""
    await AuthService(session, settings).sign_out(body.refresh_token)


@router.get("/me", operation_id="me_get", tags=["me"])
async def me(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> schemas.Me:
    workspaces = await AuthService(session, settings).workspaces.list_for_user(user.id)
    return schemas.Me(
        user=schemas.UserOut.model_validate(user),
        workspaces=[_with_role(ws, role) for ws, role in workspaces],
    )


@router.post("/me/password", operation_id="me_change_password", tags=["me"])
async def change_password(
    body: schemas.PasswordChange, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> schemas.TokenResponse:
    """Change the password. Every other session ends; new tokens for this one are returned."""
    return await AuthService(session, settings).change_password(
        user, body.current_password, body.new_password
    )


@router.post(
    "/me/sign-out-everywhere",
    operation_id="me_sign_out_everywhere",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["me"],
)
async def sign_out_everywhere(
    user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> None:
    """End every session of this user, this one included."""
    await AuthService(session, settings).sign_out_everywhere(user)


@router.get(
    "/permissions",
    operation_id="permissions_list",
    tags=["me"],
    dependencies=[Depends(get_principal)],
)
async def permissions() -> list[schemas.PermissionOut]:
    """The permission catalogue and which roles hold each permission."""
    return [
        schemas.PermissionOut(
            name=name,
            description=description,
            roles=[role for role, held in ROLE_PERMISSIONS.items() if name in held],
        )
        for name, description in CATALOGUE.items()
    ]


# -- workspaces -----------------------------------------------------------------


def _with_role(workspace: object, role: str) -> schemas.WorkspaceWithRole:
    out = schemas.WorkspaceOut.model_validate(workspace)
    return schemas.WorkspaceWithRole(**out.model_dump(), role=Role(role))


@router.get("/workspaces", operation_id="workspaces_list", tags=["workspaces"])
async def list_workspaces(
    user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> list[schemas.WorkspaceWithRole]:
    rows = await AuthService(session, settings).workspaces.list_for_user(user.id)
    return [_with_role(ws, role) for ws, role in rows]


@router.post(
    "/workspaces",
    operation_id="workspaces_create",
    status_code=status.HTTP_201_CREATED,
    tags=["workspaces"],
)
async def create_workspace(
    body: schemas.WorkspaceCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> schemas.WorkspaceWithRole:
    workspace = await AuthService(session, settings).create_workspace(user, body.name, body.slug)
    return _with_role(workspace, Role.owner.value)


@router.get("/workspaces/{workspace_id}", operation_id="workspaces_get", tags=["workspaces"])
async def get_workspace(
    ctx: WorkspaceRead, session: SessionDep, settings: SettingsDep
) -> schemas.WorkspaceOut:
    return schemas.WorkspaceOut.model_validate(
        await AuthService(session, settings).get_workspace(ctx)
    )


@router.patch("/workspaces/{workspace_id}", operation_id="workspaces_update", tags=["workspaces"])
async def update_workspace(
    body: schemas.WorkspaceUpdate, ctx: WorkspaceWrite, session: SessionDep, settings: SettingsDep
) -> schemas.WorkspaceOut:
    workspace = await AuthService(session, settings).get_workspace(ctx)
    for field, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(workspace, field, value)
    await session.flush()
    return schemas.WorkspaceOut.model_validate(workspace)


@router.delete(
    "/workspaces/{workspace_id}",
    operation_id="workspaces_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["workspaces"],
)
async def delete_workspace(
    ctx: WorkspaceDelete, session: SessionDep, settings: SettingsDep
) -> None:
    service = AuthService(session, settings)
    await service.workspaces.delete(await service.get_workspace(ctx))


# -- team -----------------------------------------------------------------------


@router.get("/workspaces/{workspace_id}/members", operation_id="members_list", tags=["team"])
async def list_members(
    ctx: MembersRead, paging: Paging, session: SessionDep, settings: SettingsDep
) -> Page[schemas.MemberOut]:
    rows = await AuthService(session, settings).memberships.list(ctx.workspace_id, paging)
    members = [
        schemas.MemberOut(
            user_id=u.id, email=u.email, name=u.name, role=Role(m.role), joined_at=m.created_at
        )
        for m, u in rows
    ]
    return make_page(members, paging, lambda m: m.user_id)


@router.patch(
    "/workspaces/{workspace_id}/members/{user_id}", operation_id="members_update", tags=["team"]
)
async def update_member(
    user_id: uuid.UUID,
    body: schemas.MemberUpdate,
    ctx: MembersWrite,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.MemberOut:
    service = AuthService(session, settings)
    membership = await service.change_role(ctx, user_id, body.role)
    user = await service.users.get(user_id)
    assert user is not None
    return schemas.MemberOut(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=Role(membership.role),
        joined_at=membership.created_at,
    )


@router.delete(
    "/workspaces/{workspace_id}/members/{user_id}",
    operation_id="members_remove",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["team"],
)
async def remove_member(
    user_id: uuid.UUID, ctx: MembersWrite, session: SessionDep, settings: SettingsDep
) -> None:
    await AuthService(session, settings).remove_member(ctx, user_id)


# -- API keys -------------------------------------------------------------------


@router.get("/workspaces/{workspace_id}/api-keys", operation_id="api_keys_list", tags=["api-keys"])
async def list_api_keys(
    ctx: APIKeysRead, paging: Paging, session: SessionDep, settings: SettingsDep
) -> Page[schemas.APIKeyOut]:
    keys = await AuthService(session, settings).api_keys.list(ctx.workspace_id, paging)
    return make_page([schemas.APIKeyOut.model_validate(k) for k in keys], paging, lambda k: k.id)


@router.post(
    "/workspaces/{workspace_id}/api-keys",
    operation_id="api_keys_create",
    status_code=status.HTTP_201_CREATED,
    tags=["api-keys"],
)
async def create_api_key(
    body: schemas.APIKeyCreate, ctx: APIKeysWrite, session: SessionDep, settings: SettingsDep
) -> schemas.APIKeyCreated:
    """Create a key. Its secret is in this response and nowhere else, ever."""
    key, secret = await AuthService(session, settings).create_api_key(
        ctx, body.name, body.permissions, body.expires_at
    )
    return schemas.APIKeyCreated(**schemas.APIKeyOut.model_validate(key).model_dump(), key=secret)


@router.delete(
    "/workspaces/{workspace_id}/api-keys/{api_key_id}",
    operation_id="api_keys_revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["api-keys"],
)
async def revoke_api_key(
    api_key_id: uuid.UUID, ctx: APIKeysWrite, session: SessionDep, settings: SettingsDep
) -> None:
    await AuthService(session, settings).revoke_api_key(ctx, api_key_id)


# -- invitations ----------------------------------------------------------------


@router.get(
    "/workspaces/{workspace_id}/invitations", operation_id="invitations_list", tags=["team"]
)
async def list_invitations(
    ctx: MembersRead, paging: Paging, session: SessionDep, settings: SettingsDep
) -> Page[schemas.InvitationOut]:
    rows = await AuthService(session, settings).invitations.list_open(ctx.workspace_id, paging)
    return make_page(
        [schemas.InvitationOut.model_validate(i) for i in rows], paging, lambda i: i.id
    )


@router.post(
    "/workspaces/{workspace_id}/invitations",
    operation_id="invitations_create",
    status_code=status.HTTP_201_CREATED,
    tags=["team"],
)
async def create_invitation(
    body: schemas.InvitationCreate, ctx: MembersWrite, session: SessionDep, settings: SettingsDep
) -> schemas.InvitationCreated:
    """Invite someone. Until mail delivery exists, the inviter passes on the link returned."""
    invitation, token = await AuthService(session, settings).invite(ctx, body.email, body.role)
    url = f"{settings.api.external_url}/invite?token={token}"
    return schemas.InvitationCreated(
        **schemas.InvitationOut.model_validate(invitation).model_dump(), accept_url=url
    )


@router.delete(
    "/workspaces/{workspace_id}/invitations/{invitation_id}",
    operation_id="invitations_revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["team"],
)
async def revoke_invitation(
    invitation_id: uuid.UUID, ctx: MembersWrite, session: SessionDep, settings: SettingsDep
) -> None:
    await AuthService(session, settings).revoke_invitation(ctx, invitation_id)


@router.post("/invitations/accept", operation_id="invitations_accept", tags=["team"])
async def accept_invitation(
    body: schemas.InvitationAccept,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> schemas.AcceptedInvitation:
    """Accept an invitation: signed in as the invited address, or by choosing a password."""
    service = AuthService(session, settings)
    user = None
    if token:
        if token.startswith("mly_"):
            raise Forbidden("API keys cannot accept invitations")
        user = await service.user_from_access_token(token)
    workspace, role, member, created = await service.accept_invitation(
        body.token, user, body.password, body.name
    )
    tokens = await service.issue_tokens(member) if created else None
    return schemas.AcceptedInvitation(workspace=_with_role(workspace, role.value), tokens=tokens)
