"""All SQLAlchemy models, one module per aggregate, re-exported for Alembic and callers."""

from maily.kit.db.base import Base
from maily.models.api_key import APIKey
from maily.models.audit import AuditEntry
from maily.models.contact import Contact, CustomField
from maily.models.event import EVENT_TYPES, Event
from maily.models.invitation import Invitation
from maily.models.mailing_list import ConsentRecord, ListMembership, MailingList
from maily.models.membership import Membership
from maily.models.outbox import OutboxMessage
from maily.models.refresh_token import RefreshToken
from maily.models.segment import Segment
from maily.models.signup_form import SignupForm, SubscriptionConfirmation
from maily.models.suppression import SuppressionEntry
from maily.models.transfer import ContactExport, ContactImport
from maily.models.user import User
from maily.models.workspace import Workspace

__all__ = [
    "EVENT_TYPES",
    "APIKey",
    "AuditEntry",
    "Base",
    "ConsentRecord",
    "Contact",
    "ContactExport",
    "ContactImport",
    "CustomField",
    "Event",
    "Invitation",
    "ListMembership",
    "MailingList",
    "Membership",
    "OutboxMessage",
    "RefreshToken",
    "Segment",
    "SignupForm",
    "SubscriptionConfirmation",
    "SuppressionEntry",
    "User",
    "Workspace",
]
