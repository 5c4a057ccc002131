"""The delivery ledger's rules: row states, and what a transport's result does to a row.

Pure logic, no SQL: `DeliveryRepository` (delivery/repository.py) runs the statements.
A row moves queued → leased → sent | deferred | bounced | failed | unknown, or to
skipped when its contact can no longer be mailed; deferred rows are leased again
after a backoff until the retry window is used up, then they fail."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from maily.delivery.transports.base import Outcome, SendResult


class DeliveryStatus(StrEnum):
    queued = "queued"
    leased = "leased"
    sent = "sent"
    deferred = "deferred"
    bounced = "bounced"
    failed = "failed"
    # The message may have been accepted: never sent again.
    unknown = "unknown"
    # The contact could no longer be mailed when its row came up (or the campaign
    # was cancelled first).
    skipped = "skipped"


# A sender may lease these (deferred ones once their backoff has passed).
LEASABLE = (DeliveryStatus.queued, DeliveryStatus.deferred)
TERMINAL = frozenset(
    {
        DeliveryStatus.sent,
        DeliveryStatus.bounced,
        DeliveryStatus.failed,
        DeliveryStatus.unknown,
        DeliveryStatus.skipped,
    }
)
PENDING = frozenset(set(DeliveryStatus) - TERMINAL)

_DETAIL_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped, inside a retry window.

    Attempt n (1-based) waits between half and all of min(cap, base * 2**(n-1)),
    and never less than a server's own Retry-After. A deferral whose next attempt
    would fall outside the window (counted from the first attempt) fails instead."""

    base_seconds: float = 60.0
    cap_seconds: float = 3600.0
    window_seconds: float = 72 * 3600.0

    def delay(
        self,
        attempts: int,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0 ** max(0, attempts - 1))
        jittered = ceiling / 2 + rand() * ceiling / 2
        return max(jittered, retry_after or 0.0)


@dataclass(frozen=True, slots=True)
class RowResult:
    """What one send does to one ledger row, ready for the batched UPDATE."""

    workspace_id: uuid.UUID
    id: uuid.UUID
    status: DeliveryStatus
    # When a deferred row may be leased again; None leaves send_after alone.
    send_after: datetime | None
    code: int | None
    detail: str
    provider_message_id: str | None
    sent: bool


def outcome_to_row(
    *,
    workspace_id: uuid.UUID,
    delivery_id: uuid.UUID,
    attempts: int,
    first_attempt_at: datetime,
    result: SendResult,
    now: datetime,
    policy: RetryPolicy,
    rand: Callable[[], float] = random.random,
) -> RowResult:
    """`attempts` counts the attempt just made."""
    status = {
        Outcome.sent: DeliveryStatus.sent,
        Outcome.deferred: DeliveryStatus.deferred,
        Outcome.bounced: DeliveryStatus.bounced,
        Outcome.unknown: DeliveryStatus.unknown,
        Outcome.failed: DeliveryStatus.failed,
    }[result.outcome]
    detail = result.detail[:_DETAIL_LIMIT]
    send_after = None
    if status is DeliveryStatus.deferred:
        retry_at = now + timedelta(seconds=policy.delay(attempts, result.retry_after, rand))
        if retry_at - first_attempt_at > timedelta(seconds=policy.window_seconds):
            status = DeliveryStatus.failed
            detail = f"retry window exhausted after {attempts} attempts: {detail}"[:_DETAIL_LIMIT]
        else:
            send_after = retry_at
    return RowResult(
        workspace_id=workspace_id,
        id=delivery_id,
        status=status,
        send_after=send_after,
        code=result.code,
        detail=detail,
        provider_message_id=result.provider_message_id,
        sent=status is DeliveryStatus.sent,
    )


def failed_row(
    workspace_id: uuid.UUID, delivery_id: uuid.UUID, detail: str, *, status: DeliveryStatus
) -> RowResult:
    """A row that never reached a transport (composing failed) or whose fate the
    transport did not report."""
    return RowResult(
        workspace_id=workspace_id,
        id=delivery_id,
        status=status,
        send_after=None,
        code=None,
        detail=detail[:_DETAIL_LIMIT],
        provider_message_id=None,
        sent=False,
    )
