"""Transports: SMTP, provider HTTP APIs and the outbox, all behind one interface."""

from maily.delivery.transports.base import (
    Outcome,
    OutgoingMessage,
    SendResult,
    Transport,
)

__all__ = ["Outcome", "OutgoingMessage", "SendResult", "Transport"]
