"""Applying bounce and complaint reports: find the delivery, keep the record, apply the
policy (suppression, contact status, unsubscribe), and say which stream events to add.

No SQL here (the repository) and no commit (the caller's unit of work); the stream
events are returned for the caller to append once its transaction has committed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from maily.analytics.stream import TrackingEvent
from maily.audit.service import SYSTEM_ACTOR, record_audit
from maily.config import BounceSettings
from maily.contacts import subscriptions
from maily.delivery.bounces.classification import reply_code
from maily.delivery.bounces.events import feedback_event
from maily.delivery.bounces.feedback import Feedback, FeedbackKind, delivery_id_from_message_id
from maily.delivery.bounces.policy import decide, stronger_status
from maily.delivery.bounces.repository import BounceRepository, DeliveryRef
from maily.kit.db import AsyncSession
from maily.kit.logging import get_logger

_log = get_logger("maily.bounces")


@dataclass
class IngestResult:
    recorded: int = 0
    duplicates: int = 0
    unmatched: int = 0
    delivered: int = 0
    suppressed: int = 0
    # Stream entries to append after commit.
    events: list[TrackingEvent] = field(default_factory=list)


def _same_address(delivery: DeliveryRef, recipient: str | None) -> bool:
    return recipient is not None and delivery.email.lower() == recipient.strip().lower()


class BounceService:
    def __init__(self, session: AsyncSession, settings: BounceSettings) -> None:
        self.session = session
        self.settings = settings
        self.repository = BounceRepository(session)

    async def find_delivery(self, feedback: Feedback) -> DeliveryRef | None:
        """The delivery a report is about, or None when it is not one of ours.

        A delivery id from a VERP tag or a provider's signed metadata is taken as it
        is (within the workspace the metadata names, if it names one). A provider
        message id names the message; where one id covers several deliveries the
        recipient decides. The Message-ID header is only trusted together with the
        recipient address, since anyone can write a Message-ID."""
        if feedback.delivery_id is not None:
            found = await self.repository.delivery_by_id(
                feedback.delivery_id, feedback.workspace_id
            )
            if found is not None:
                return found
        if feedback.provider_message_ids:
            candidates = await self.repository.deliveries_by_provider_id(
                feedback.provider_message_ids
            )
            if feedback.workspace_id is not None:
                candidates = [c for c in candidates if c.workspace_id == feedback.workspace_id]
            if len(candidates) == 1 and (
                feedback.recipient is None or _same_address(candidates[0], feedback.recipient)
            ):
                return candidates[0]
            matching = [c for c in candidates if _same_address(c, feedback.recipient)]
            if len(matching) == 1:
                return matching[0]
        from_header = delivery_id_from_message_id(feedback.message_id)
        if from_header is not None and feedback.recipient:
            found = await self.repository.delivery_by_id(from_header, feedback.workspace_id)
            if found is not None and _same_address(found, feedback.recipient):
                return found
        return None

    async def ingest(self, feedbacks: Sequence[Feedback]) -> IngestResult:
        result = IngestResult()
        for feedback in feedbacks:
            delivery = await self.find_delivery(feedback)
            if delivery is None:
                result.unmatched += 1
                _log.info(
                    "bounce report matches no delivery",
                    source=feedback.source.value,
                    kind=feedback.kind.value,
                )
                continue
            await self._apply(delivery, feedback, result)
        return result

    async def _apply(self, delivery: DeliveryRef, feedback: Feedback, result: IngestResult) -> None:
        event = feedback_event(
            feedback.kind,
            delivery.id,
            feedback.occurred_at,
            source=feedback.source,
            code=feedback.code,
            diagnostic=feedback.diagnostic,
        )
        if feedback.kind is FeedbackKind.delivered:
            result.delivered += 1
            result.events.append(event)
            return
        # The contact's row lock serialises reports about one person, so concurrent soft
        # bounces count each other and the limit is met exactly once.
        contact = await self.repository.contact_for_update(
            delivery.workspace_id, delivery.contact_id
        )
        soft = 0
        if feedback.kind is FeedbackKind.soft:
            since = feedback.occurred_at - timedelta(days=self.settings.soft_bounce_window_days)
            soft = 1 + await self.repository.soft_bounces_since(
                delivery.workspace_id, delivery.contact_id, since
            )
        decision = decide(feedback.kind, soft, self.settings.soft_bounce_limit)
        record_id = await self.repository.add_record(
            delivery,
            kind=feedback.kind.value,
            source=feedback.source.value,
            event_key=feedback.event_key,
            code=feedback.code,
            diagnostic=feedback.diagnostic,
            effect=decision.effect,
            occurred_at=feedback.occurred_at,
        )
        if record_id is None:
            result.duplicates += 1
            return
        result.recorded += 1
        result.events.append(event)
        if decision.mark_delivery_bounced:
            code = reply_code(feedback.code) or reply_code(feedback.diagnostic)
            await self.repository.mark_delivery_bounced(
                delivery, int(code) if code else None, feedback.diagnostic or feedback.code
            )
        if decision.suppression_reason is None:
            return
        note = f"{feedback.source.value} {feedback.kind.value}: {feedback.code}".strip(": ")
        if await self.repository.suppress(
            delivery.workspace_id, delivery.email, decision.suppression_reason, note
        ):
            result.suppressed += 1
        if contact is None:
            return
        if decision.unsubscribe:
            await subscriptions.unsubscribe(
                self.session,
                workspace_id=delivery.workspace_id,
                contact=contact,
                list_id=None,
                channel="complaint",
                reason=f"spam complaint reported by {feedback.source.value}",
            )
        if decision.contact_status and stronger_status(contact.status, decision.contact_status):
            contact.status = decision.contact_status
        await self.session.flush()
        await record_audit(
            self.session,
            delivery.workspace_id,
            SYSTEM_ACTOR,
            f"contact.{decision.effect}",
            "contact",
            contact.id,
            {
                "reason": decision.suppression_reason,
                "source": feedback.source.value,
                "code": feedback.code,
                "delivery_id": str(delivery.id),
                "bounce_id": str(record_id),
            },
        )
