"""Consent changes: subscribe, confirm (double opt-in) and unsubscribe, each on the record.

Every path that changes whether a person wants mail — signup forms, the contacts API,
imports, unsubscribe links — goes through here, so the rules and the consent trail
(`ConsentRecord`: what, when, how, from which IP and user agent) cannot drift apart.

Rules:
- A single opt-in list subscribes at once. On a double opt-in list a subscription from
  a form or the API waits, 'unconfirmed', until the person follows the confirmation
  link; the token behind it is stored only as a digest.
- `admin` and `import` subscribe at once even on a double opt-in list: they are the
  workspace asserting consent it already holds (a migration, a signed paper form), and
  the consent record says so. They may not override a withdrawal, though: a contact
  who unsubscribed from the list, or from everything, can only come back themselves
  (a form or the API acting for them).
- A suppressed address or domain is never subscribed.
- Unsubscribing from everything marks the contact 'unsubscribed' and every membership
  too, so a later subscription to one list does not revive the others.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from maily.auth.security import new_opaque_token, token_digest
from maily.contacts.addresses import value_hash
from maily.kit.db import AsyncSession
from maily.kit.errors import Conflict, MailyError, NotFound
from maily.models import (
    ConsentRecord,
    Contact,
    ListMembership,
    MailingList,
    SubscriptionConfirmation,
    SuppressionEntry,
)

__all__ = [
    "CONFIRMATION_TTL",
    "AddressSuppressed",
    "Channel",
    "ConfirmationExpired",
    "ConfirmationInvalid",
    "ConfirmationUsed",
    "ConsentWithdrawn",
    "Source",
    "Subscription",
    "confirm",
    "confirmation_url",
    "is_address_suppressed",
    "issue_confirmation",
    "pending_confirmation_url",
    "subscribe",
    "unsubscribe",
]

Source = Literal["import", "api", "form", "admin"]
Channel = Literal[
    "link", "one_click", "preference_center", "mailto", "admin", "api", "complaint", "bounce"
]

CONFIRMATION_TTL = timedelta(days=7)
CONFIRMATION_TOKEN_PREFIX = "cfm_"  # noqa: S105 - a token prefix, not a secret

# The workspace acting on its own authority, rather than the person acting.
_OPERATOR_SOURCES: frozenset[str] = frozenset({"admin", "import"})
# consent_records.source of an unsubscribe: who acted. The person, from a message they
# received (email); the workspace (admin, api); or a mailbox provider's feedback.
_UNSUBSCRIBE_SOURCE: dict[str, str] = {
    "link": "email",
    "one_click": "email",
    "preference_center": "email",
    "mailto": "email",
    "admin": "admin",
    "api": "api",
    "complaint": "feedback",
    "bounce": "feedback",
}
_TEXT_LIMIT = 500  # consent_records.reason and .user_agent


# -- errors -----------------------------------------------------------------------


class AddressSuppressed(Conflict):
    code = "address_suppressed"

    def __init__(self) -> None:
        super().__init__("this address is suppressed in the workspace and cannot be subscribed")


class ConsentWithdrawn(Conflict):
    code = "consent_withdrawn"

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"this contact unsubscribed from {scope}; only they can subscribe again "
            "(through a signup form or the API acting for them)"
        )


class ConfirmationInvalid(NotFound):
    code = "confirmation_invalid"

    def __init__(self) -> None:
        super().__init__("this confirmation link is not valid")


class ConfirmationUsed(Conflict):
    code = "confirmation_used"

    def __init__(self) -> None:
        super().__init__("this confirmation link was used already")


class ConfirmationExpired(MailyError):
    status_code = 410
    code = "confirmation_expired"

    def __init__(self) -> None:
        super().__init__("this confirmation link has expired; subscribe again for a new one")


# -- results ----------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """What `subscribe` did to one membership."""

    membership: ListMembership
    # False when the member was subscribed already (nothing recorded, nothing issued).
    changed: bool
    # The confirmation token issued now, for a subscription awaiting double opt-in.
    # Only its digest is stored: whoever shows or mails the link takes it from here.
    confirmation_token: str | None = None

    @property
    def awaiting_confirmation(self) -> bool:
        return self.membership.status == "unconfirmed"


def _now() -> datetime:
    return datetime.now(UTC)


def _clean_ip(ip: str | None) -> str | None:
    """The address as INET accepts it, or None (a proxy may hand over anything)."""
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return None


def _clean_text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace("\x00", "").strip()[:_TEXT_LIMIT]
    return value or None


# -- SQL ----------------------------------------------------------------------------


class SubscriptionRepository:
    """The SQL behind consent changes; every statement is scoped to one workspace,
    except the look-up of a confirmation token, which is all the link carries."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def suppressed(self, workspace_id: uuid.UUID, email: str) -> bool:
        domain = email.rpartition("@")[2]
        query = select(SuppressionEntry.id).where(
            SuppressionEntry.workspace_id == workspace_id,
            or_(
                (SuppressionEntry.kind == "address")
                & (SuppressionEntry.value_hash == value_hash(email)),
                (SuppressionEntry.kind == "domain")
                & (SuppressionEntry.value_hash == value_hash(domain)),
            ),
        )
        return (await self.session.execute(query.limit(1))).first() is not None

    async def membership_for_update(
        self, workspace_id: uuid.UUID, list_id: uuid.UUID, contact_id: uuid.UUID
    ) -> ListMembership | None:
        return await self.session.get(
            ListMembership,
            (workspace_id, list_id, contact_id),
            with_for_update=True,
            populate_existing=True,
        )

    async def insert_membership(
        self, workspace_id: uuid.UUID, list_id: uuid.UUID, contact_id: uuid.UUID, status: str
    ) -> ListMembership | None:
        """The new membership, or None when a concurrent transaction created it first
        (the insert waits for that one to finish, so a retry finds its row)."""
        inserted = await self.session.execute(
            insert(ListMembership)
            .values(
                workspace_id=workspace_id, list_id=list_id, contact_id=contact_id, status=status
            )
            .on_conflict_do_nothing(index_elements=["workspace_id", "list_id", "contact_id"])
            .returning(ListMembership.contact_id)
        )
        if inserted.first() is None:
            return None
        return await self.membership_for_update(workspace_id, list_id, contact_id)

    async def unsubscribe_memberships(self, workspace_id: uuid.UUID, contact_id: uuid.UUID) -> int:
        result = await self.session.execute(
            update(ListMembership)
            .where(
                ListMembership.workspace_id == workspace_id,
                ListMembership.contact_id == contact_id,
                ListMembership.status != "unsubscribed",
            )
            .values(status="unsubscribed")
            .execution_options(synchronize_session="fetch")
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def add_confirmation(self, confirmation: SubscriptionConfirmation) -> None:
        self.session.add(confirmation)
        await self.session.flush()

    async def confirmation_by_hash(self, token_hash: bytes) -> SubscriptionConfirmation | None:
        query = select(SubscriptionConfirmation).where(
            SubscriptionConfirmation.token_hash == token_hash
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def use_confirmations(
        self, workspace_id: uuid.UUID, list_id: uuid.UUID, contact_id: uuid.UUID, now: datetime
    ) -> None:
        """Mark every open token of a membership used: one confirmation settles them all."""
        await self.session.execute(
            update(SubscriptionConfirmation)
            .where(
                SubscriptionConfirmation.workspace_id == workspace_id,
                SubscriptionConfirmation.list_id == list_id,
                SubscriptionConfirmation.contact_id == contact_id,
                SubscriptionConfirmation.used_at.is_(None),
            )
            .values(used_at=now)
            .execution_options(synchronize_session="fetch")
        )

    async def drop_open_confirmations(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID, list_id: uuid.UUID | None
    ) -> None:
        """Forget unused tokens, so an old link cannot revive a withdrawn subscription."""
        query = delete(SubscriptionConfirmation).where(
            SubscriptionConfirmation.workspace_id == workspace_id,
            SubscriptionConfirmation.contact_id == contact_id,
            SubscriptionConfirmation.used_at.is_(None),
        )
        if list_id is not None:
            query = query.where(SubscriptionConfirmation.list_id == list_id)
        await self.session.execute(query.execution_options(synchronize_session="fetch"))

    async def contact_for_update(
        self, workspace_id: uuid.UUID, contact_id: uuid.UUID
    ) -> Contact | None:
        return await self.session.get(
            Contact, (workspace_id, contact_id), with_for_update=True, populate_existing=True
        )

    async def record(self, consent: ConsentRecord) -> None:
        self.session.add(consent)
        await self.session.flush()


# -- consent changes ------------------------------------------------------------------


async def is_address_suppressed(session: AsyncSession, workspace_id: uuid.UUID, email: str) -> bool:
    """Whether the normalised `email`, or its domain, is on the workspace's suppression list."""
    return await SubscriptionRepository(session).suppressed(workspace_id, email)


async def subscribe(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    contact: Contact,
    mailing_list: MailingList,
    source: Source,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Subscription:
    """Subscribe `contact` to `mailing_list`, or start its double opt-in.

    Idempotent for a member who is subscribed already. Raises AddressSuppressed for a
    suppressed address and ConsentWithdrawn when `admin` or `import` would override
    the contact's own unsubscribe."""
    if contact.workspace_id != workspace_id or mailing_list.workspace_id != workspace_id:
        raise ValueError("the contact and the list must belong to the workspace")
    repo = SubscriptionRepository(session)
    if await repo.suppressed(workspace_id, contact.email):
        raise AddressSuppressed()
    operator = source in _OPERATOR_SOURCES
    if operator and contact.status == "unsubscribed":
        raise ConsentWithdrawn("everything")

    double_opt_in = mailing_list.opt_in == "double" and not operator
    target = "unconfirmed" if double_opt_in else "subscribed"
    membership = await repo.membership_for_update(workspace_id, mailing_list.id, contact.id)
    created = False
    if membership is None:
        membership = await repo.insert_membership(workspace_id, mailing_list.id, contact.id, target)
        created = membership is not None
        if membership is None:  # lost a race with a concurrent subscribe: use its row
            membership = await repo.membership_for_update(workspace_id, mailing_list.id, contact.id)
            assert membership is not None
    if not created:
        if membership.status == "subscribed":
            return Subscription(membership, changed=False)
        if operator and membership.status == "unsubscribed":
            raise ConsentWithdrawn("this list")
        membership.status = target

    token: str | None = None
    if double_opt_in:
        # A repeated request (a lost confirmation mail) gets a fresh token; older
        # ones stay valid until they expire.
        token = await _issue(repo, membership, source)
    else:
        await repo.drop_open_confirmations(workspace_id, contact.id, mailing_list.id)
        if contact.status == "unsubscribed":  # only a person's own source gets here
            contact.status = "subscribed"
    await repo.record(
        ConsentRecord(
            workspace_id=workspace_id,
            contact_id=contact.id,
            list_id=mailing_list.id,
            action="subscribe",
            source=source,
            ip=_clean_ip(ip),
            user_agent=_clean_text(user_agent),
        )
    )
    return Subscription(membership, changed=True, confirmation_token=token)


async def _issue(repo: SubscriptionRepository, membership: ListMembership, source: str) -> str:
    token = new_opaque_token(CONFIRMATION_TOKEN_PREFIX)
    await repo.add_confirmation(
        SubscriptionConfirmation(
            workspace_id=membership.workspace_id,
            list_id=membership.list_id,
            contact_id=membership.contact_id,
            token_hash=token_digest(token),
            source=source,
            expires_at=_now() + CONFIRMATION_TTL,
        )
    )
    return token


async def issue_confirmation(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    list_id: uuid.UUID,
    contact_id: uuid.UUID,
    source: Source = "api",
) -> str:
    """A new confirmation token for a membership awaiting double opt-in: the delivery
    layer mints the one it mails; an admin can hand on a fresh link."""
    repo = SubscriptionRepository(session)
    membership = await repo.membership_for_update(workspace_id, list_id, contact_id)
    if membership is None or membership.status != "unconfirmed":
        raise NotFound("no subscription awaiting confirmation")
    return await _issue(repo, membership, source)


def confirmation_url(base_url: str, token: str) -> str:
    """The public confirmation link (`base_url` is `settings.api.external_url`)."""
    return f"{base_url.rstrip('/')}/confirm/{token}"


async def pending_confirmation_url(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    list_id: uuid.UUID,
    contact_id: uuid.UUID,
    base_url: str,
) -> str:
    """A working confirmation link for a pending membership, for the API to show until
    mail delivery sends it (as invitations do). Every call issues a new token."""
    token = await issue_confirmation(
        session, workspace_id=workspace_id, list_id=list_id, contact_id=contact_id
    )
    return confirmation_url(base_url, token)


async def confirm(
    session: AsyncSession,
    *,
    token: str,
    ip: str | None = None,
    user_agent: str | None = None,
) -> ListMembership:
    """Complete a double opt-in. Raises ConfirmationInvalid (unknown token, or the
    subscription was withdrawn since), ConfirmationUsed, ConfirmationExpired, or
    AddressSuppressed (suppressed since the request)."""
    repo = SubscriptionRepository(session)
    confirmation = await repo.confirmation_by_hash(token_digest(token))
    if confirmation is None:
        raise ConfirmationInvalid()
    if confirmation.used_at is not None:
        raise ConfirmationUsed()
    now = _now()
    if confirmation.expires_at <= now:
        raise ConfirmationExpired()
    workspace_id = confirmation.workspace_id
    # The membership's lock, not the token's, serialises confirmations: two clicks at
    # once (or two links of one membership) meet there, and the second finds it done.
    # Contact before membership, the order signups take them in.
    contact = await repo.contact_for_update(workspace_id, confirmation.contact_id)
    membership = await repo.membership_for_update(
        workspace_id, confirmation.list_id, confirmation.contact_id
    )
    if membership is None or contact is None:
        raise ConfirmationInvalid()
    if membership.status == "subscribed":
        raise ConfirmationUsed()  # settled meanwhile, by this link or another of its own
    if membership.status != "unconfirmed":
        raise ConfirmationInvalid()
    if await repo.suppressed(workspace_id, contact.email):
        raise AddressSuppressed()

    membership.status = "subscribed"
    # Following the link is the person's own act, so it lifts an earlier unsubscribe
    # from everything; bounced or complained states belong to delivery and stay.
    if contact.status == "unsubscribed":
        contact.status = "subscribed"
    await repo.use_confirmations(workspace_id, membership.list_id, contact.id, now)
    await repo.record(
        ConsentRecord(
            workspace_id=workspace_id,
            contact_id=contact.id,
            list_id=membership.list_id,
            action="confirm",
            source=confirmation.source,
            ip=_clean_ip(ip),
            user_agent=_clean_text(user_agent),
        )
    )
    return membership


async def unsubscribe(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    contact: Contact,
    list_id: uuid.UUID | None,
    channel: Channel,
    reason: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> bool:
    """Unsubscribe from one list, or from everything when `list_id` is None.

    Returns whether anything changed; repeating an unsubscribe (a second click) records
    nothing new. A contact who is not on the list is left alone."""
    if contact.workspace_id != workspace_id:
        raise ValueError("the contact must belong to the workspace")
    repo = SubscriptionRepository(session)
    if list_id is None:
        changed = await repo.unsubscribe_memberships(workspace_id, contact.id) > 0
        # 'complained' says more than 'unsubscribed' (no consent, and a spam report),
        # so it stays; any other state yields to the person's withdrawal.
        if contact.status not in ("unsubscribed", "complained"):
            contact.status = "unsubscribed"
            changed = True
    else:
        membership = await repo.membership_for_update(workspace_id, list_id, contact.id)
        changed = membership is not None and membership.status != "unsubscribed"
        if membership is not None:
            membership.status = "unsubscribed"
    if not changed:
        return False
    await repo.drop_open_confirmations(workspace_id, contact.id, list_id)
    await repo.record(
        ConsentRecord(
            workspace_id=workspace_id,
            contact_id=contact.id,
            list_id=list_id,
            action="unsubscribe",
            source=_UNSUBSCRIBE_SOURCE[channel],
            channel=channel,
            reason=_clean_text(reason),
            ip=_clean_ip(ip),
            user_agent=_clean_text(user_agent),
        )
    )
    return True
