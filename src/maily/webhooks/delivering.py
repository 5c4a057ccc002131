"""One attempt of one webhook delivery: sign, send, log, then schedule the next
attempt (exponential backoff with jitter) or give up; disable an endpoint that
keeps failing.

Runs inside a job's transaction. The delivery row stays locked during the HTTP
call, so two runs of the same delivery (a swept job and its retry) take turns and
the second sees the first one's outcome. Delivery is at least once: a worker that
dies after the receiver answered but before commit sends again, with the same
`Maily-Webhook-Id`, which receivers use to drop duplicates."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from prometheus_client import Counter, Histogram

from maily.config import WebhookSettings
from maily.kit.db import AsyncSession
from maily.kit.logging import get_logger
from maily.kit.resilience import backoff, backoff_ceiling
from maily.models import WebhookAttempt
from maily.webhooks.client import AttemptResult, WebhookClient
from maily.webhooks.repository import WebhookRepository
from maily.webhooks.service import enqueue_delivery
from maily.webhooks.signing import SIGNATURE_HEADER, signature_header

_log = get_logger("maily.webhooks")

WEBHOOK_ATTEMPTS: Final = Counter(
    "maily_webhook_attempts",
    "Outbound webhook attempts, by outcome (succeeded: a 2xx; failed: anything else, "
    "including no answer).",
    ["outcome"],
)
WEBHOOK_ATTEMPT_DURATION: Final = Histogram(
    "maily_webhook_attempt_duration_seconds",
    "Time from sending a webhook attempt to its answer (or its failure).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
WEBHOOK_ENDPOINTS_DISABLED: Final = Counter(
    "maily_webhook_endpoints_disabled",
    "Webhook endpoints disabled after too many failed attempts in a row.",
)
_SUCCEEDED = WEBHOOK_ATTEMPTS.labels(outcome="succeeded")
_FAILED = WEBHOOK_ATTEMPTS.labels(outcome="failed")


def retry_delay_seconds(
    attempt: int, settings: WebhookSettings, rand: Callable[[], float] = random.random
) -> float:
    """Seconds before the attempt after `attempt`: between half and all of the
    doubling ceiling (base · 2^(attempt-1), capped), so retries of endpoints that
    failed together spread out, yet each wait is longer than the one before on
    average and never shorter than half its ceiling."""
    ceiling = backoff_ceiling(attempt, settings.retry_base_seconds, settings.retry_max_seconds)
    jitter = backoff(attempt, settings.retry_base_seconds, settings.retry_max_seconds, rand=rand)
    return ceiling / 2 + jitter / 2


def encode_body(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Outcome:
    status: str  # the delivery's status after this run
    attempt: int | None  # the attempt made, None when nothing was sent
    retry_in_seconds: float | None = None


async def deliver(
    session: AsyncSession,
    settings: WebhookSettings,
    client: WebhookClient,
    workspace_id: uuid.UUID,
    delivery_id: uuid.UUID,
    *,
    rand: Callable[[], float] = random.random,
) -> Outcome:
    repository = WebhookRepository(session)
    delivery = await repository.get_delivery(workspace_id, delivery_id, for_update=True)
    if delivery is None:
        return Outcome("missing", None)  # its endpoint was deleted meanwhile
    if delivery.status != "pending":
        return Outcome(delivery.status, None)  # a duplicate run: already settled
    endpoint = await repository.get_endpoint(workspace_id, delivery.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        delivery.status = "cancelled"
        delivery.next_attempt_at = None
        await repository.save()
        return Outcome("cancelled", None)

    attempt = delivery.attempts + 1
    body = encode_body(delivery.payload)
    headers = {
        SIGNATURE_HEADER: signature_header(endpoint.secret, body),
        "Maily-Webhook-Id": str(delivery.id),
        "Maily-Event-Type": delivery.event_type,
        "Maily-Attempt": str(attempt),
    }
    result: AttemptResult = await client.post(endpoint.url, body, headers)
    (_SUCCEEDED if result.ok else _FAILED).inc()
    WEBHOOK_ATTEMPT_DURATION.observe(result.duration_ms / 1000)
    now = datetime.now(UTC)
    await repository.add_attempt(
        WebhookAttempt(
            workspace_id=workspace_id,
            delivery_id=delivery.id,
            endpoint_id=endpoint.id,
            attempt=attempt,
            outcome="succeeded" if result.ok else "failed",
            response_status=result.status,
            duration_ms=result.duration_ms,
            error=result.error,
            response_excerpt=result.excerpt,
        )
    )
    delivery.attempts = attempt
    delivery.last_response_status = result.status
    if result.ok:
        delivery.status = "succeeded"
        delivery.succeeded_at = now
        delivery.next_attempt_at = None
        await repository.succeeded(workspace_id, endpoint.id)
        await repository.save()
        return Outcome("succeeded", attempt)

    failures = await repository.failed_once_more(workspace_id, endpoint.id)
    disabled = failures >= settings.disable_after_failures
    if disabled:
        await repository.disable(
            workspace_id,
            endpoint.id,
            f"disabled after {failures} failed attempts in a row; last: {result.error}",
            now,
        )
        WEBHOOK_ENDPOINTS_DISABLED.inc()
        _log.warning(
            "webhook endpoint disabled", workspace_id=str(workspace_id), webhook_id=str(endpoint.id)
        )
    if disabled or attempt >= settings.max_attempts:
        delivery.status = "failed"
        delivery.next_attempt_at = None
        await repository.save()
        return Outcome("failed", attempt)
    delay = retry_delay_seconds(attempt, settings, rand)
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    await repository.save()
    enqueue_delivery(session, workspace_id, delivery.id, attempt=attempt + 1, delay_seconds=delay)
    return Outcome("pending", attempt, delay)
