"""Business rules for accounts, sessions, workspaces, teams, API keys and invitations.

No SQL and no HTTP here: repositories do the first, endpoints the second."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from maily.auth import security
from maily.auth.permissions import ROLE_RANK, Role, permissions_of, unknown_permissions
from maily.auth.repository import (
    APIKeyRepository,
    InvitationRepository,
    MembershipRepository,
    RefreshTokenRepository,
    UserRepository,
    WorkspaceRepository,
)
from maily.auth.schemas import TokenResponse
from maily.config import Settings
from maily.kit.db import AsyncSession
from maily.kit.errors import BadRequest, Conflict, Forbidden, NotAuthenticated, NotFound
from maily.models import APIKey, Invitation, Membership, RefreshToken, User, Workspace


def utcnow() -> datetime:
    return datetime.now(UTC)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
    return slug or "workspace"


class RefreshTokenReused(Exception):
    """A rotated refresh token came back: its family has been revoked."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user, or an API key acting in one workspace."""

    user: User | None = None
    api_key: APIKey | None = None

    @property
    def key(self) -> str:
        if self.api_key is not None:
            return f"key:{self.api_key.id}"
        assert self.user is not None
        return f"user:{self.user.id}"


@dataclass(frozen=True)
class WorkspaceContext:
    workspace_id: uuid.UUID
    principal: Principal
    role: Role | None  # None for API keys
    permissions: frozenset[str]

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.principal.user.id if self.principal.user else None


class AuthService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.users = UserRepository(session)
        self.workspaces = WorkspaceRepository(session)
        self.memberships = MembershipRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)
        self.api_keys = APIKeyRepository(session)
        self.invitations = InvitationRepository(session)

    # -- accounts ---------------------------------------------------------------

    async def create_user(self, email: str, password: str, name: str = "") -> User:
        email = email.strip().lower()
        if await self.users.get_by_email(email) is not None:
            raise Conflict(f"an account for {email} exists already")
        return await self.users.add(
            User(email=email, name=name, password_hash=security.hash_password(password))
        )

    async def sign_up(
        self, email: str, password: str, name: str, workspace_name: str
    ) -> tuple[User, Workspace]:
        user = await self.create_user(email, password, name)
        workspace = await self.create_workspace(user, workspace_name)
        return user, workspace

    async def authenticate(self, email: str, password: str) -> User:
        user = await self.users.get_by_email(email.strip().lower())
        ok = security.verify_password(password, user.password_hash if user else None)
        if not ok or user is None or not user.is_active:
            raise NotAuthenticated("wrong email address or password")
        if security.password_needs_rehash(user.password_hash):
            user.password_hash = security.hash_password(password)
        return user

    async def set_password(self, user: User, new_password: str) -> None:
        """Set a password and end every session the user had (all tokens stop working)."""
        user.password_hash = security.hash_password(new_password)
        user.password_changed_at = utcnow()
        await self.sign_out_everywhere(user)

    async def sign_out_everywhere(self, user: User) -> None:
        user.session_version += 1
        await self.refresh_tokens.revoke_all_for_user(user.id, utcnow())
        await self.session.flush()

    async def change_password(self, user: User, current: str, new: str) -> TokenResponse:
        if not security.verify_password(current, user.password_hash):
            raise BadRequest("the current password is wrong")
        await self.set_password(user, new)
        return await self.issue_tokens(user)

    # -- sessions ---------------------------------------------------------------

    async def issue_tokens(self, user: User, family_id: uuid.UUID | None = None) -> TokenResponse:
        access, ttl = security.issue_access_token(self.settings, user.id, user.session_version)
        refresh = security.new_opaque_token("mrt_")
        await self.refresh_tokens.add(
            RefreshToken(
                user_id=user.id,
                family_id=family_id or uuid.uuid4(),
                token_hash=security.token_digest(refresh),
                expires_at=utcnow()
                + timedelta(seconds=self.settings.security.refresh_token_ttl_seconds),
            )
        )
        return TokenResponse(access_token=access, expires_in=ttl, refresh_token=refresh)

    async def refresh(self, refresh_token: str) -> TokenResponse:
        now = utcnow()
        stored = await self.refresh_tokens.get_by_hash_for_update(
            security.token_digest(refresh_token)
        )
        if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
            raise NotAuthenticated("refresh token is not valid")
        if stored.rotated_at is not None:
            # Someone holds a copy of a token that was already exchanged.
            await self.refresh_tokens.revoke_family(stored.family_id, now)
            raise RefreshTokenReused
        user = await self.users.get(stored.user_id)
        if user is None or not user.is_active:
            raise NotAuthenticated("refresh token is not valid")
        stored.rotated_at = now
        return await self.issue_tokens(user, family_id=stored.family_id)

    async def sign_out(self, refresh_token: str) -> None:
        stored = await self.refresh_tokens.get_by_hash_for_update(
            security.token_digest(refresh_token)
        )
        if stored is not None:
            await self.refresh_tokens.revoke_family(stored.family_id, utcnow())

    async def user_from_access_token(self, token: str) -> User:
        try:
            claims = security.decode_access_token(self.settings, token)
        except security.InvalidToken as exc:
            raise NotAuthenticated("access token is not valid or has expired") from exc
        user = await self.users.get(claims.user_id)
        if user is None or not user.is_active or user.session_version != claims.session_version:
            raise NotAuthenticated("access token is not valid or has expired")
        return user

    async def api_key_from_secret(self, secret: str) -> APIKey:
        key = await self.api_keys.get_by_hash(security.token_digest(secret))
        now = utcnow()
        if key is None or key.revoked_at is not None or (key.expires_at and key.expires_at <= now):
            raise NotAuthenticated("API key is not valid")
        # Only write last_used_at now and then: a write per request would be a hot spot.
        if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=5):
            await self.api_keys.touch(key, now)
        return key

    async def workspace_context(
        self, principal: Principal, workspace_id: uuid.UUID
    ) -> WorkspaceContext:
        """What `principal` may do in `workspace_id`; 404 when it has no access at all,
        so that other workspaces' ids cannot be probed."""
        if principal.api_key is not None:
            if principal.api_key.workspace_id != workspace_id:
                raise NotFound("workspace not found")
            return WorkspaceContext(
                workspace_id, principal, None, frozenset(principal.api_key.permissions)
            )
        assert principal.user is not None
        membership = await self.memberships.get(workspace_id, principal.user.id)
        if membership is None:
            raise NotFound("workspace not found")
        role = Role(membership.role)
        return WorkspaceContext(workspace_id, principal, role, permissions_of(role))

    # -- workspaces -------------------------------------------------------------

    async def create_workspace(self, owner: User, name: str, slug: str | None = None) -> Workspace:
        if slug is not None:
            if await self.workspaces.slug_taken(slug):
                raise Conflict(f"the workspace address {slug!r} is taken")
        else:
            base = slugify(name)
            slug = base
            while await self.workspaces.slug_taken(slug):
                slug = f"{base}-{secrets.token_hex(3)}"
        workspace = await self.workspaces.add(Workspace(name=name, slug=slug))
        await self.memberships.add(
            Membership(workspace_id=workspace.id, user_id=owner.id, role=Role.owner.value)
        )
        return workspace

    async def get_workspace(self, ctx: WorkspaceContext) -> Workspace:
        workspace = await self.workspaces.get(ctx.workspace_id)
        if workspace is None:
            raise NotFound("workspace not found")
        return workspace

    # -- team -------------------------------------------------------------------

    def _may_grant(self, ctx: WorkspaceContext, role: Role) -> None:
        if ctx.role is not None and ROLE_RANK[role] > ROLE_RANK[ctx.role]:
            raise Forbidden(f"a {ctx.role.value} cannot grant the role {role.value}")
        if ctx.role is None and role is Role.owner:
            raise Forbidden("an API key cannot grant the owner role")

    async def change_role(
        self, ctx: WorkspaceContext, user_id: uuid.UUID, role: Role
    ) -> Membership:
        membership = await self.memberships.get(ctx.workspace_id, user_id)
        if membership is None:
            raise NotFound("member not found")
        current = Role(membership.role)
        self._may_grant(ctx, role)
        self._may_grant(ctx, current)  # nobody demotes someone above themselves
        if (
            current is Role.owner
            and role is not Role.owner
            and await self.memberships.count_owners(ctx.workspace_id) <= 1
        ):
            raise Conflict("a workspace needs at least one owner; make someone else owner first")
        membership.role = role.value
        await self.session.flush()
        return membership

    async def remove_member(self, ctx: WorkspaceContext, user_id: uuid.UUID) -> None:
        membership = await self.memberships.get(ctx.workspace_id, user_id)
        if membership is None:
            raise NotFound("member not found")
        self._may_grant(ctx, Role(membership.role))
        if (
            membership.role == Role.owner.value
            and await self.memberships.count_owners(ctx.workspace_id) <= 1
        ):
            raise Conflict("the last owner cannot be removed")
        await self.memberships.delete(membership)

    # -- API keys ---------------------------------------------------------------

    async def create_api_key(
        self, ctx: WorkspaceContext, name: str, permissions: list[str], expires_at: datetime | None
    ) -> tuple[APIKey, str]:
        unknown = unknown_permissions(permissions)
        if unknown:
            raise BadRequest(f"unknown permissions: {', '.join(unknown)}")
        beyond = sorted(set(permissions) - ctx.permissions)
        if beyond:
            raise Forbidden(
                f"you cannot give a key permissions you do not hold: {', '.join(beyond)}"
            )
        if expires_at is not None and expires_at <= utcnow():
            raise BadRequest("expires_at must be in the future")
        secret = security.new_opaque_token(security.API_KEY_PREFIX)
        key = await self.api_keys.add(
            APIKey(
                workspace_id=ctx.workspace_id,
                name=name,
                prefix=secret[:12],
                key_hash=security.token_digest(secret),
                permissions=sorted(set(permissions)),
                created_by=ctx.user_id,
                expires_at=expires_at,
            )
        )
        return key, secret

    async def revoke_api_key(self, ctx: WorkspaceContext, key_id: uuid.UUID) -> None:
        key = await self.api_keys.get(ctx.workspace_id, key_id)
        if key is None or key.revoked_at is not None:
            raise NotFound("API key not found")
        key.revoked_at = utcnow()
        await self.session.flush()

    # -- invitations ------------------------------------------------------------

    async def invite(self, ctx: WorkspaceContext, email: str, role: Role) -> tuple[Invitation, str]:
        self._may_grant(ctx, role)
        existing = await self.users.get_by_email(email)
        if existing is not None and await self.memberships.get(ctx.workspace_id, existing.id):
            raise Conflict(f"{email} is a member already")
        token = security.new_opaque_token("inv_")
        invitation = await self.invitations.add(
            Invitation(
                workspace_id=ctx.workspace_id,
                email=email,
                role=role.value,
                token_hash=security.token_digest(token),
                invited_by=ctx.user_id,
                expires_at=utcnow()
                + timedelta(seconds=self.settings.security.invitation_ttl_seconds),
            )
        )
        return invitation, token

    async def revoke_invitation(self, ctx: WorkspaceContext, invitation_id: uuid.UUID) -> None:
        invitation = await self.invitations.get(ctx.workspace_id, invitation_id)
        if invitation is None or invitation.accepted_at or invitation.revoked_at:
            raise NotFound("invitation not found")
        invitation.revoked_at = utcnow()
        await self.session.flush()

    async def accept_invitation(
        self, token: str, user: User | None, password: str | None, name: str
    ) -> tuple[Workspace, Role, User, bool]:
        """Returns the workspace, the role, the member, and whether an account was created."""
        invitation = await self.invitations.get_by_hash_for_update(security.token_digest(token))
        now = utcnow()
        if (
            invitation is None
            or invitation.accepted_at is not None
            or invitation.revoked_at is not None
            or invitation.expires_at <= now
        ):
            raise NotFound("invitation not found or no longer valid")
        created = False
        if user is None:
            user = await self.users.get_by_email(invitation.email)
            if user is not None:
                raise NotAuthenticated(f"sign in as {invitation.email} to accept this invitation")
            if not password:
                raise BadRequest("choose a password to create your account")
            user = await self.create_user(invitation.email, password, name)
            created = True
        elif user.email != invitation.email:
            raise Forbidden("this invitation was sent to another address")
        if await self.memberships.get(invitation.workspace_id, user.id) is None:
            await self.memberships.add(
                Membership(
                    workspace_id=invitation.workspace_id, user_id=user.id, role=invitation.role
                )
            )
        invitation.accepted_at = now
        workspace = await self.workspaces.get(invitation.workspace_id)
        assert workspace is not None
        return workspace, Role(invitation.role), user, created
