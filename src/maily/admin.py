"""Administrative actions shared by the CLI and `maily up`: accounts and workspaces."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from maily.auth.service import AuthService
from maily.config import Settings
from maily.kit.db import create_engine, create_sessionmaker, transaction
from maily.kit.errors import NotFound
from maily.models import User, Workspace


@dataclass(frozen=True)
class FirstOwner:
    email: str
    password: str
    workspace: Workspace


def generate_password() -> str:
    return secrets.token_urlsafe(12)


class Admin:
    """Runs one administrative action per transaction against the configured database."""

    def __init__(self, settings: Settings) -> None:
        if not settings.database.url:
            raise RuntimeError("no database configured: set MAILY_DATABASE_URL")
        self.settings = settings
        self.engine = create_engine(settings.database.url, pool_size=1, max_overflow=0)
        self.sessionmaker = create_sessionmaker(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()

    async def create_user(self, email: str, password: str, name: str = "") -> User:
        async with transaction(self.sessionmaker) as session:
            return await AuthService(session, self.settings).create_user(email, password, name)

    async def create_workspace(self, name: str, owner_email: str) -> Workspace:
        async with transaction(self.sessionmaker) as session:
            service = AuthService(session, self.settings)
            owner = await service.users.get_by_email(owner_email.strip().lower())
            if owner is None:
                raise NotFound(f"no account for {owner_email}; create it first")
            return await service.create_workspace(owner, name)

    async def reset_password(self, email: str, password: str) -> None:
        async with transaction(self.sessionmaker) as session:
            service = AuthService(session, self.settings)
            user = await service.users.get_by_email(email.strip().lower())
            if user is None:
                raise NotFound(f"no account for {email}")
            await service.set_password(user, password)

    async def ensure_first_owner(self, email: str) -> FirstOwner | None:
        """On an empty installation, create the first owner and workspace."""
        async with transaction(self.sessionmaker) as session:
            service = AuthService(session, self.settings)
            if await service.users.count() > 0:
                return None
            password = generate_password()
            user, workspace = await service.sign_up(email, password, "Owner", "My workspace")
            return FirstOwner(user.email, password, workspace)
