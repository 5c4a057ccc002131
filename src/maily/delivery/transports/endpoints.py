"""HTTP route that says which transport this installation sends through.

The transport is the operator's choice (MAILY_TRANSPORT and its group of settings), the
same for every workspace; a workspace can see it, never its credentials."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from maily.api.deps import SettingsDep
from maily.config import ProviderAPISettings, Settings, TransportName
from maily.delivery.outbox.auth import SendingRead
from maily.kit.schemas import Schema

router = APIRouter(prefix="/api/v1/workspaces/{workspace_id}/transport", tags=["transport"])

_DESCRIPTIONS: dict[TransportName, str] = {
    "outbox": "Mail is kept in the outbox and not delivered (development and tests).",
    "smtp": "Mail goes to an SMTP relay.",
    "ses": "Mail goes to Amazon SES through its HTTP API.",
    "postmark": "Mail goes to Postmark through its HTTP API.",
    "sendgrid": "Mail goes to SendGrid through its HTTP API.",
    "mailgun": "Mail goes to Mailgun through its HTTP API.",
}


class TransportOut(Schema):
    name: TransportName
    description: str
    # Where mail is handed over: the relay's host:port, the SES region, the provider's
    # API base; none for the outbox.
    destination: str | None
    security: Literal["none", "starttls", "tls"] | None = None
    rate_per_second: float | None = None  # over the transport as a whole, every sender
    workspace_rate_per_second: float | None = None  # for each workspace
    configured_by: Literal["environment"] = "environment"


def _destination(settings: Settings) -> str | None:
    name = settings.transport
    if name == "outbox":
        return None
    if name == "smtp":
        smtp = settings.smtp
        return f"{smtp.host}:{smtp.effective_port}" if smtp.host else None
    if name == "ses":
        return settings.ses.base_url or f"SES in {settings.ses.region}"
    provider: ProviderAPISettings = getattr(settings, name)
    if name == "mailgun" and provider.base_url is None:
        return f"Mailgun ({settings.mailgun.region.upper()} region)"
    return provider.base_url or f"{name.capitalize()}'s public API"


@router.get("", operation_id="transport_get")
async def get_transport(ctx: SendingRead, settings: SettingsDep) -> TransportOut:
    """The transport campaign and test mail goes out through (set by the operator)."""
    return TransportOut(
        name=settings.transport,
        description=_DESCRIPTIONS[settings.transport],
        destination=_destination(settings),
        security=settings.smtp.security.value if settings.transport == "smtp" else None,
        rate_per_second=settings.sender.transport_rate_per_second,
        workspace_rate_per_second=settings.sender.workspace_rate_per_second,
    )
