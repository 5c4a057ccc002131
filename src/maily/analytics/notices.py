"""The notice a workspace's owners get when the deliverability guard pauses a campaign,
sent through the configured transport like every other message Maily sends (kept in
the outbox when that is the transport)."""

from __future__ import annotations

import email.utils
from email.message import EmailMessage
from urllib.parse import urlsplit

from maily.analytics.guard import Paused
from maily.config import Settings
from maily.delivery.transports.base import Outcome, OutgoingMessage, Transport
from maily.kit.logging import get_logger

_log = get_logger("maily.analytics.notices")


def notice_sender(settings: Settings) -> str:
    if settings.analytics.notice_from:
        return settings.analytics.notice_from
    host = urlsplit(settings.api.external_url).hostname or "localhost"
    return f"maily@{host}"


def pause_notice(paused: Paused, owner: str, sender: str, app_url: str) -> OutgoingMessage:
    subject = f"Campaign paused: {paused.campaign_name}"
    body = (
        f'Maily paused the campaign "{paused.campaign_name}": its '
        f"{paused.verdict.reason}.\n\n"
        "Mailbox providers throttle or block senders past these rates (Gmail and Yahoo ask "
        "bulk senders to stay under 0.3% spam complaints). Check the audience and the "
        "bounce and complaint reports before resuming it.\n\n"
        f"{app_url}/campaigns/{paused.campaign_id}\n"
    )
    message = EmailMessage()
    message["From"] = sender
    message["To"] = owner
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return OutgoingMessage(
        delivery_id=None,
        workspace_id=paused.workspace_id,
        envelope_from=sender,
        recipient=owner,
        data=message.as_bytes(policy=message.policy.clone(linesep="\r\n")),
        from_header=sender,
        to_header=owner,
        subject=subject,
        html=None,
        text=body,
        metadata={"campaign_id": str(paused.campaign_id), "kind": "pause_notice"},
    )


async def notify_owners(transport: Transport, paused: Paused, sender: str, app_url: str) -> int:
    """Send the notice to every owner; how many the transport took. A failure is
    logged: the pause and its audit entry stand either way."""
    messages = [pause_notice(paused, owner, sender, app_url) for owner in paused.owners]
    if not messages:
        return 0
    try:
        results = await transport.send(messages)
    except Exception as exc:  # a transport must not undo a committed pause
        _log.warning("pause notice not sent", campaign_id=str(paused.campaign_id), error=str(exc))
        return 0
    sent = sum(1 for r in results if r.outcome is Outcome.sent)
    if sent < len(messages):
        _log.warning(
            "pause notice not taken by every owner's mailbox",
            campaign_id=str(paused.campaign_id),
            sent=sent,
            owners=len(messages),
        )
    return sent
