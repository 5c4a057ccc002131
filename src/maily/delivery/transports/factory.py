"""Builds the transport the settings choose (`MAILY_TRANSPORT`); the outbox by default."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from maily.config import Settings
from maily.delivery.transports.base import Transport
from maily.kit.db import AsyncSession, create_sessionmaker


def transport_from_settings(
    settings: Settings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    engine: AsyncEngine | None = None,
) -> Transport:
    """The configured transport, ready to send; the caller closes it (`aclose`).

    The outbox writes through `sessionmaker` (or a session factory on `engine`) when
    given, which stay the caller's; otherwise it opens a small pool of its own on
    the configured database. Provider modules are imported only when chosen."""
    choice = settings.transport
    if choice == "outbox":
        from maily.delivery.transports.outbox import OutboxTransport

        if sessionmaker is None and engine is not None:
            sessionmaker = create_sessionmaker(engine)
        if sessionmaker is not None:
            return OutboxTransport(sessionmaker)
        if not settings.database.url:
            raise ValueError(
                "the outbox transport keeps mail in the database: set MAILY_DATABASE_URL"
            )
        return OutboxTransport.from_url(settings.database.url)
    if choice == "ses":
        from maily.delivery.transports.ses import SESTransport

        return SESTransport(settings.ses)
    if choice == "postmark":
        from maily.delivery.transports.postmark import PostmarkTransport

        return PostmarkTransport(settings.postmark)
    if choice == "sendgrid":
        from maily.delivery.transports.sendgrid import SendGridTransport

        return SendGridTransport(settings.sendgrid)
    if choice == "mailgun":
        from maily.delivery.transports.mailgun import MailgunTransport

        return MailgunTransport(settings.mailgun)
    if choice == "smtp":
        return _smtp_transport(settings)
    raise ValueError(f"unknown transport {choice!r}")


def _smtp_transport(settings: Settings) -> Transport:
    from maily.delivery.transports.smtp import SMTPTransport

    if settings.smtp.host is None:
        raise ValueError("MAILY_TRANSPORT is smtp, but MAILY_SMTP__HOST is not set")
    return SMTPTransport.from_settings(settings.smtp)
