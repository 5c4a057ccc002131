"""All SQLAlchemy models, one module per aggregate, re-exported for Alembic and callers."""

from maily.kit.db.base import Base
from maily.models.ai_provider import AIProvider, AIUsage
from maily.models.ai_suggestion import AISuggestion
from maily.models.analytics import CampaignDomainStats, CampaignLinkStats, CampaignStats
from maily.models.api_key import APIKey
from maily.models.audit import AuditEntry
from maily.models.bounce import BounceRecord
from maily.models.campaign import Campaign
from maily.models.contact import Contact, CustomField
from maily.models.delivery import Delivery
from maily.models.event import EVENT_TYPES, Event
from maily.models.invitation import Invitation
from maily.models.link_table import LinkTable
from maily.models.mailing_list import ConsentRecord, ListMembership, MailingList
from maily.models.membership import Membership
from maily.models.outbox import OutboxMessage
from maily.models.pending_event import PendingEvent
from maily.models.refresh_token import RefreshToken
from maily.models.segment import Segment
from maily.models.sending_domain import Sender, SendingDomain
from maily.models.signup_form import SignupForm, SubscriptionConfirmation
from maily.models.suppression import SuppressionEntry
from maily.models.template import Template, TemplateVersion
from maily.models.transfer import ContactExport, ContactImport
from maily.models.user import User
from maily.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from maily.models.workspace import Workspace

__all__ = [
    "EVENT_TYPES",
    "AIProvider",
    "AISuggestion",
    "AIUsage",
    "APIKey",
    "AuditEntry",
    "Base",
    "BounceRecord",
    "Campaign",
    "CampaignDomainStats",
    "CampaignLinkStats",
    "CampaignStats",
    "ConsentRecord",
    "Contact",
    "ContactExport",
    "ContactImport",
    "CustomField",
    "Delivery",
    "Event",
    "Invitation",
    "LinkTable",
    "ListMembership",
    "MailingList",
    "Membership",
    "OutboxMessage",
    "PendingEvent",
    "RefreshToken",
    "Segment",
    "Sender",
    "SendingDomain",
    "SignupForm",
    "SubscriptionConfirmation",
    "SuppressionEntry",
    "Template",
    "TemplateVersion",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
]
