"""Messages and transports for the SMTP transport tests."""

from __future__ import annotations

import uuid
from typing import Any

from maily.config import SMTPSecurity
from maily.delivery.transports.base import OutgoingMessage
from maily.delivery.transports.smtp import SMTPServer, SMTPTransport
from tests.delivery.smtp_server import SMTPTestServer

WORKSPACE = uuid.uuid4()


def outgoing(
    recipient: str, *, body: bytes | None = None, sender: str | None = None
) -> OutgoingMessage:
    """A finished message to `recipient`; its envelope sender is unique (VERP-like),
    so faults can be aimed at its MAIL FROM."""
    delivery_id = uuid.uuid4()
    message_id = f"<{delivery_id}@maily.test>"
    headers = (
        f"From: News <news@maily.test>\r\nTo: <{recipient}>\r\nSubject: Hello\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    return OutgoingMessage(
        delivery_id=delivery_id,
        workspace_id=WORKSPACE,
        envelope_from=sender or f"bounce+{delivery_id.hex}@maily.test",
        recipient=recipient,
        data=headers + (body if body is not None else b"Hello there.\r\n"),
        from_header="News <news@maily.test>",
        to_header=f"<{recipient}>",
        subject="Hello",
        html=None,
        text="Hello there.",
        headers=(("Message-ID", message_id),),
    )


def plain_transport(server: SMTPTestServer, **options: Any) -> SMTPTransport:
    """A transport to `server` over plain TCP with short timeouts."""
    timeouts = {
        "connect_timeout": options.pop("connect_timeout", 2.0),
        "command_timeout": options.pop("command_timeout", 2.0),
        "data_timeout": options.pop("data_timeout", 2.0),
    }
    endpoint = SMTPServer(
        "127.0.0.1",
        server.port,
        options.pop("security", SMTPSecurity.none),
        username=options.pop("username", None),
        password=options.pop("password", None),
        ehlo_name="sender.maily.test",
        ssl_context=options.pop("ssl_context", None),
        **timeouts,
    )
    return SMTPTransport(endpoint, **options)
