"""All SQLAlchemy models, one module per aggregate, re-exported for Alembic and callers."""

from maily.kit.db.base import Base
from maily.models.api_key import APIKey
from maily.models.invitation import Invitation
from maily.models.membership import Membership
from maily.models.refresh_token import RefreshToken
from maily.models.user import User
from maily.models.workspace import Workspace

__all__ = ["APIKey", "Base", "Invitation", "Membership", "RefreshToken", "User", "Workspace"]
