"""Request and response models for auth, workspaces, members, API keys and invitations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints, field_validator

from maily.auth.permissions import Role
from maily.kit.schemas import ORMSchema, Schema

Password = Annotated[str, StringConstraints(min_length=10, max_length=256)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _lower_email(value: str) -> str:
    return value.strip().lower()


class SignUp(Schema):
    email: EmailStr
    password: Password
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    workspace_name: Name = "My workspace"

    _email = field_validator("email", mode="after")(_lower_email)


class TokenResponse(Schema):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - OAuth2 token type, not a secret
    expires_in: int
    refresh_token: str


class RefreshRequest(Schema):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class PasswordChange(Schema):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    new_password: Password


class UserOut(ORMSchema):
    id: uuid.UUID
    email: str
    name: str
    created_at: datetime


class WorkspaceCreate(Schema):
    name: Name
    slug: (
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")] | None
    ) = None


BrandText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
BrandURL = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2048, pattern=r"^(https?://\S+)?$")
]


class BrandSettings(Schema):
    """What the AI assistant writes with; every field may be left empty."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    voice: BrandText = Field("", description='e.g. "warm, plain-spoken, no exclamation marks"')
    primary_color: Annotated[str, StringConstraints(pattern=r"^(#[0-9A-Fa-f]{6})?$")] = Field(
        "", description="#RRGGBB"
    )
    font_family: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    logo_url: BrandURL = ""
    website_url: BrandURL = ""


class WorkspaceUpdate(Schema):
    name: Name | None = None
    postal_address: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None
    ) = None
    brand: BrandSettings | None = Field(None, description="Replaces the whole brand when given")


class WorkspaceOut(ORMSchema):
    id: uuid.UUID
    name: str
    slug: str
    postal_address: str
    brand: BrandSettings = BrandSettings()
    created_at: datetime


class WorkspaceWithRole(WorkspaceOut):
    role: Role


class Me(Schema):
    user: UserOut
    workspaces: list[WorkspaceWithRole]


class MemberOut(Schema):
    user_id: uuid.UUID
    email: str
    name: str
    role: Role
    joined_at: datetime


class MemberUpdate(Schema):
    role: Role


class APIKeyCreate(Schema):
    name: Name
    permissions: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        min_length=1, max_length=64
    )
    expires_at: datetime | None = None


class APIKeyOut(ORMSchema):
    id: uuid.UUID
    name: str
    prefix: str
    permissions: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class APIKeyCreated(APIKeyOut):
    key: str = Field(description="The secret; shown only once")


class InvitationCreate(Schema):
    email: EmailStr
    role: Role = Role.editor

    _email = field_validator("email", mode="after")(_lower_email)


class InvitationOut(ORMSchema):
    id: uuid.UUID
    email: str
    role: Role
    expires_at: datetime
    created_at: datetime


class InvitationCreated(InvitationOut):
    accept_url: str = Field(description="Link for the invitee; shown only once")


class InvitationAccept(Schema):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    # Only for someone without an account yet.
    password: Password | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


class AcceptedInvitation(Schema):
    workspace: WorkspaceWithRole
    tokens: TokenResponse | None = None


class PermissionOut(Schema):
    name: str
    description: str
    roles: list[Role]
