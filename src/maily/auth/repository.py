"""All SQL for users, workspaces, memberships, tokens, API keys and invitations."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update

from maily.kit.db import AsyncSession
from maily.kit.pagination import PageParams, paginate
from maily.models import APIKey, Invitation, Membership, RefreshToken, User, Workspace


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        return (
            await self.session.execute(select(User).where(User.email == email))
        ).scalar_one_or_none()

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def count(self) -> int:
        return int(
            (await self.session.execute(select(func.count()).select_from(User))).scalar_one()
        )


class WorkspaceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, workspace_id: uuid.UUID) -> Workspace | None:
        return await self.session.get(Workspace, workspace_id)

    async def slug_taken(self, slug: str) -> bool:
        found = await self.session.execute(select(Workspace.id).where(Workspace.slug == slug))
        return found.first() is not None

    async def add(self, workspace: Workspace) -> Workspace:
        self.session.add(workspace)
        await self.session.flush()
        return workspace

    async def delete(self, workspace: Workspace) -> None:
        await self.session.delete(workspace)
        await self.session.flush()

    async def list_for_user(self, user_id: uuid.UUID) -> list[tuple[Workspace, str]]:
        rows = await self.session.execute(
            select(Workspace, Membership.role)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Membership.user_id == user_id)
            .order_by(Workspace.created_at, Workspace.id)
        )
        return [(ws, role) for ws, role in rows]


class MembershipRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, workspace_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
        return await self.session.get(Membership, (workspace_id, user_id))

    async def add(self, membership: Membership) -> Membership:
        self.session.add(membership)
        await self.session.flush()
        return membership

    async def delete(self, membership: Membership) -> None:
        await self.session.delete(membership)
        await self.session.flush()

    async def list(
        self, workspace_id: uuid.UUID, page: PageParams
    ) -> list[tuple[Membership, User]]:
        query = (
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace_id)
        )
        query = paginate(query, Membership.user_id, page)
        return [(m, u) for m, u in await self.session.execute(query)]

    async def count_owners(self, workspace_id: uuid.UUID) -> int:
        query = select(func.count()).where(
            Membership.workspace_id == workspace_id, Membership.role == "owner"
        )
        return int((await self.session.execute(query)).scalar_one())


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_hash_for_update(self, token_hash: bytes) -> RefreshToken | None:
        query = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add(self, token: RefreshToken) -> None:
        self.session.add(token)
        await self.session.flush()

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke_all_for_user(self, user_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )


class APIKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_hash(self, key_hash: bytes) -> APIKey | None:
        query = select(APIKey).where(APIKey.key_hash == key_hash)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def get(self, workspace_id: uuid.UUID, key_id: uuid.UUID) -> APIKey | None:
        return await self.session.get(APIKey, (workspace_id, key_id))

    async def add(self, key: APIKey) -> APIKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def list(self, workspace_id: uuid.UUID, page: PageParams) -> list[APIKey]:
        query = select(APIKey).where(
            APIKey.workspace_id == workspace_id, APIKey.revoked_at.is_(None)
        )
        query = paginate(query, APIKey.id, page)
        return list((await self.session.execute(query)).scalars())

    async def touch(self, key: APIKey, now: datetime) -> None:
        await self.session.execute(
            update(APIKey)
            .where(APIKey.workspace_id == key.workspace_id, APIKey.id == key.id)
            .values(last_used_at=now)
        )


class InvitationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, workspace_id: uuid.UUID, invitation_id: uuid.UUID) -> Invitation | None:
        return await self.session.get(Invitation, (workspace_id, invitation_id))

    async def get_by_hash_for_update(self, token_hash: bytes) -> Invitation | None:
        query = select(Invitation).where(Invitation.token_hash == token_hash).with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add(self, invitation: Invitation) -> Invitation:
        self.session.add(invitation)
        await self.session.flush()
        return invitation

    async def list_open(self, workspace_id: uuid.UUID, page: PageParams) -> list[Invitation]:
        query = select(Invitation).where(
            Invitation.workspace_id == workspace_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        query = paginate(query, Invitation.id, page)
        return list((await self.session.execute(query)).scalars())
