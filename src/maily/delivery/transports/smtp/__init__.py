"""SMTP delivery: a pipelining asyncio client and the pooled, paced transport on top."""

from maily.delivery.transports.smtp.client import (
    Reply,
    SMTPConnectError,
    SMTPConnection,
    SMTPConnectionLost,
    SMTPError,
    SMTPServer,
    classify_failure,
)
from maily.delivery.transports.smtp.transport import SMTPTransport, ssl_context_from_settings

__all__ = [
    "Reply",
    "SMTPConnectError",
    "SMTPConnection",
    "SMTPConnectionLost",
    "SMTPError",
    "SMTPServer",
    "SMTPTransport",
    "classify_failure",
    "ssl_context_from_settings",
]
