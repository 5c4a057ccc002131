"""Receiving one provider webhook: judge it, then record what it reports in one unit of work.

Order matters. The signature and the timestamp are checked first, with no store
touched; then the notification's id is claimed in Redis (a replay stops here); then
the reports are applied in one transaction, which also holds their stream events
(`maily.analytics.relay`); the events go out after commit.
If applying fails, the claim is released so the provider's retry is accepted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.analytics.relay import EventRelay, hold_events
from maily.config import Settings
from maily.delivery.bounces.feedback import Feedback
from maily.delivery.bounces.service import BounceService
from maily.delivery.webhooks import mailgun, postmark, sendgrid, ses
from maily.delivery.webhooks.guard import (
    MalformedWebhook,
    ReplayGuard,
    WebhookDisabled,
    WebhookRejected,
    check_age,
    utcnow,
)
from maily.kit.db import AsyncSession, transaction
from maily.kit.errors import MailyError
from maily.kit.logging import get_logger

_log = get_logger("maily.webhooks.inbound")


class UpstreamFailed(MailyError):
    status_code = 502
    code = "upstream_failed"


@dataclass(frozen=True)
class Received:
    reports: int = 0
    recorded: int = 0
    duplicates: int = 0
    unmatched: int = 0
    confirmed: bool = False


class WebhookReceiver:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.guard = ReplayGuard(redis)
        self.relay = EventRelay(sessionmaker, redis, settings.analytics.stream_key)
        self.certificates = ses.CertificateStore(
            settings.ses, settings.bounces.certificate_cache_seconds
        )
        key = settings.sendgrid.webhook_public_key
        self._sendgrid_key = sendgrid.load_public_key(key) if key else None

    async def aclose(self) -> None:
        await self.certificates.aclose()

    @property
    def _replay_ttl(self) -> int:
        limits = self.settings.bounces
        return 2 * max(limits.webhook_max_age_seconds, limits.event_max_age_seconds)

    async def _apply(self, provider: str, nonce: str, feedbacks: Sequence[Feedback]) -> Received:
        await self.guard.claim(provider, nonce, self._replay_ttl)
        try:
            async with transaction(self.sessionmaker) as session:
                result = await BounceService(session, self.settings.bounces).ingest(feedbacks)
                held = await hold_events(session, result.events)
        except BaseException:
            await self.guard.release(provider, nonce)
            raise
        # The events are held in the same transaction: what Redis does not take now,
        # the scheduler's sweep appends later.
        await self.relay.relay_committed(held, source=provider)
        return Received(
            reports=len(feedbacks),
            recorded=result.recorded,
            duplicates=result.duplicates,
            unmatched=result.unmatched,
        )

    # -- Amazon SES (SNS) ---------------------------------------------------------

    async def ses(self, body: bytes) -> Received:
        allowed = self.settings.ses.sns_topic_arns
        if not allowed:
            raise WebhookDisabled("Amazon SES")
        message = ses.parse_sns(body)
        if message.get("TopicArn") not in allowed:
            raise WebhookRejected("notifications of this SNS topic are not accepted here")
        await ses.verify_sns(message, self.certificates)
        check_age(ses.sns_timestamp(message), utcnow(), self.settings.bounces.event_max_age_seconds)
        nonce = str(message.get("MessageId") or "")
        if not nonce:
            raise MalformedWebhook("the SNS message has no MessageId")
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            await self.guard.claim("ses", nonce, self._replay_ttl)
            try:
                answer = await self.certificates.get(str(message.get("SubscribeURL") or ""))
            except httpx.HTTPError as exc:
                await self.guard.release("ses", nonce)
                raise UpstreamFailed(f"the SNS subscription could not be confirmed: {exc}") from exc
            except Exception:
                await self.guard.release("ses", nonce)
                raise
            if answer.status_code != 200:
                await self.guard.release("ses", nonce)
                raise UpstreamFailed(
                    f"SNS refused the subscription confirmation ({answer.status_code})"
                )
            _log.info("SNS subscription confirmed", topic=message.get("TopicArn"))
            return Received(confirmed=True)
        if kind == "UnsubscribeConfirmation":
            return Received()
        try:
            notification: Any = json.loads(str(message.get("Message")))
        except ValueError as exc:
            raise MalformedWebhook("the SNS Message is not an SES notification") from exc
        if not isinstance(notification, dict):
            raise MalformedWebhook("the SNS Message is not an SES notification")
        feedbacks = ses.ses_feedback(notification, ses.sns_timestamp(message))
        return await self._apply("ses", nonce, feedbacks)

    # -- Postmark -----------------------------------------------------------------

    async def postmark(self, body: bytes, authorization: str | None) -> Received:
        config = self.settings.postmark
        if not (config.webhook_username and config.webhook_password):
            raise WebhookDisabled("Postmark")
        postmark.check_basic_auth(authorization, config)
        record = postmark.parse_record(body)
        check_age(
            postmark.record_time(record), utcnow(), self.settings.bounces.event_max_age_seconds
        )
        return await self._apply(
            "postmark", postmark.record_nonce(record), postmark.postmark_feedback(record)
        )

    # -- SendGrid -----------------------------------------------------------------

    async def sendgrid(self, body: bytes, signature: str | None, timestamp: str | None) -> Received:
        if self._sendgrid_key is None:
            raise WebhookDisabled("SendGrid")
        stamped = sendgrid.verify_sendgrid(self._sendgrid_key, body, signature, timestamp)
        check_age(stamped, utcnow(), self.settings.bounces.webhook_max_age_seconds)
        events = sendgrid.parse_events(body)
        feedbacks = [f for f in map(sendgrid.sendgrid_feedback, events) if f is not None]
        assert signature is not None
        return await self._apply("sendgrid", signature, feedbacks)

    # -- Mailgun ------------------------------------------------------------------

    async def mailgun(self, body: bytes) -> Received:
        key = self.settings.mailgun.webhook_signing_key
        if key is None:
            raise WebhookDisabled("Mailgun")
        payload = mailgun.parse_body(body)
        stamped, token = mailgun.verify_mailgun(key.get_secret_value(), payload["signature"])
        check_age(stamped, utcnow(), self.settings.bounces.webhook_max_age_seconds)
        feedback = mailgun.mailgun_feedback(payload["event-data"])
        return await self._apply("mailgun", token, [feedback] if feedback else [])
