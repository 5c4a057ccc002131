"""What every provider webhook shares: its errors, the age check and the replay guard.

A request is judged before anything changes: a bad signature, a stale timestamp or
an id seen before is refused with a 4xx, and the database is never touched for it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from redis.asyncio import Redis

from maily.kit.errors import MailyError, NotFound


class WebhookRejected(MailyError):
    status_code = 401
    code = "webhook_rejected"


class WebhookReplayed(MailyError):
    status_code = 409
    code = "webhook_replayed"

    def __init__(self) -> None:
        super().__init__("this notification was received before; a replay changes nothing")


class WebhookDisabled(NotFound):
    code = "webhook_not_configured"

    def __init__(self, provider: str) -> None:
        super().__init__(f"the {provider} webhook is not configured on this server")


class MalformedWebhook(MailyError):
    status_code = 400
    code = "malformed_webhook"


def check_age(stamped: datetime, now: datetime, max_age_seconds: float) -> None:
    """Refuse a notification stamped too long ago, or too far in the future."""
    age = (now - stamped).total_seconds()
    if age > max_age_seconds or age < -300:
        raise WebhookRejected("the notification's timestamp is outside the accepted window")


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as providers write it ('...Z', 7 fraction digits); a time
    without a zone is taken as UTC. None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class ReplayGuard:
    """Remembers the ids of accepted notifications in Redis (SET NX with a TTL)."""

    def __init__(self, redis: Redis, prefix: str = "maily:webhooks:seen") -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, provider: str, nonce: str) -> str:
        digest = hashlib.sha256(nonce.encode("utf-8", "surrogateescape")).hexdigest()
        return f"{self.prefix}:{provider}:{digest}"

    async def claim(self, provider: str, nonce: str, ttl_seconds: int) -> None:
        """Mark `nonce` seen; raises WebhookReplayed when it was seen already."""
        fresh = await self.redis.set(self._key(provider, nonce), b"1", nx=True, ex=ttl_seconds)
        if not fresh:
            raise WebhookReplayed()

    async def release(self, provider: str, nonce: str) -> None:
        """Forget `nonce`: its processing failed, and the provider will try again."""
        await self.redis.delete(self._key(provider, nonce))
