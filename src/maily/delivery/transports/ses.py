"""Amazon SES through its v2 HTTP API: SendEmail with the raw message, SigV4-signed.

The request is signed with botocore's signer and sent with httpx, so a send waits on
the network without holding a thread; credentials come from settings or, when none
are set, from botocore's chain (environment, profile, instance or pod role)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials

from maily.config import SESSettings
from maily.delivery.transports.base import Outcome, OutgoingMessage, SendResult
from maily.delivery.transports.http import HTTPTransport, detail_of, retry_after, status_result

SEND_PATH = "/v2/email/outbound-emails"
SIGNING_NAME = "ses"

# Errors SES raises while the whole account cannot send (paused, suspended, MAIL FROM
# not verified) or is over its rate: nothing is wrong with the message, and mail
# goes out again once the operator or the clock fixes it.
_TEMPORARY_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "LimitExceededException",
        "SendingPausedException",
        "AccountSuspendedException",
        "MailFromDomainNotVerifiedException",
        "ServiceUnavailable",
        "InternalFailure",
    }
)
# Rejections that are about the recipient's address rather than the message.
_ADDRESS_REJECTION = re.compile(
    r"illegal address|address blacklisted|suppression list|missing final '@domain'"
    r"|invalid (?:recipient|to) address",
    re.IGNORECASE,
)
# SES tag names and values allow letters, digits, '_' and '-', up to 256 of them.
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _tag(value: str) -> str:
    return _TAG_UNSAFE.sub("_", value)[:256] or "_"


def credentials_from(settings: SESSettings) -> Credentials:
    if settings.access_key_id and settings.secret_access_key:
        return Credentials(
            settings.access_key_id,
            settings.secret_access_key.get_secret_value(),
            settings.session_token.get_secret_value() if settings.session_token else None,
        )
    found = botocore.session.get_session().get_credentials()
    if found is None:
        raise ValueError(
            "Amazon SES needs credentials: set MAILY_SES__ACCESS_KEY_ID and "
            "MAILY_SES__SECRET_ACCESS_KEY, or give the process an AWS profile or role"
        )
    return found


def error_code(response_headers: Any, body: dict[str, Any]) -> str:
    """SES's error type: the x-amzn-ErrorType header ('MessageRejected:http://…'),
    else the body's `__type` or `code`."""
    raw = str(response_headers.get("x-amzn-errortype") or body.get("__type") or body.get("code"))
    return raw.split(":", 1)[0].rsplit("#", 1)[-1] if raw != "None" else ""


class SESTransport(HTTPTransport):
    """Sends each message with one SendEmail call of the SES v2 API."""

    name = "ses"

    def __init__(self, settings: SESSettings, *, credentials: Credentials | None = None) -> None:
        super().__init__(
            settings,
            default_base_url=f"https://email.{settings.region}.amazonaws.com",
        )
        self.region = settings.region
        self.configuration_set = settings.configuration_set
        self.forward_feedback = settings.forward_feedback_to_return_path
        self._credentials = credentials or credentials_from(settings)

    async def _frozen_credentials(self) -> ReadOnlyCredentials:
        credentials = self._credentials
        # Refreshing role credentials is a blocking HTTP call inside botocore.
        if isinstance(credentials, RefreshableCredentials) and credentials.refresh_needed():
            return await asyncio.to_thread(credentials.get_frozen_credentials)
        return credentials.get_frozen_credentials()

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "Destination": {"ToAddresses": [message.recipient]},
            "Content": {"Raw": {"Data": base64.b64encode(message.data).decode("ascii")}},
        }
        if self.configuration_set:
            payload["ConfigurationSetName"] = self.configuration_set
        if self.forward_feedback:
            payload["FeedbackForwardingEmailAddress"] = message.envelope_from
        if message.metadata:
            payload["EmailTags"] = [
                {"Name": _tag(key), "Value": _tag(value)} for key, value in message.metadata.items()
            ]
        return payload

    async def send_one(self, message: OutgoingMessage) -> SendResult:
        body = json.dumps(self.payload(message)).encode()
        url = self.base_url + SEND_PATH
        request = AWSRequest(
            method="POST", url=url, data=body, headers={"Content-Type": "application/json"}
        )
        SigV4Auth(await self._frozen_credentials(), SIGNING_NAME, self.region).add_auth(request)
        response = await self.client.post(
            SEND_PATH, content=body, headers=dict(request.headers.items())
        )
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if response.status_code == 200:
            return SendResult(
                Outcome.sent,
                code=200,
                detail="accepted by SES",
                provider_message_id=answer.get("MessageId"),
            )
        code = error_code(response.headers, answer)
        text = str(answer.get("message") or answer.get("Message") or response.text)
        detail = detail_of(f"{code}: {text}" if code else text)
        if code in _TEMPORARY_CODES:
            return SendResult(
                Outcome.deferred,
                code=response.status_code,
                detail=detail,
                retry_after=retry_after(response),
            )
        shared = status_result(response, detail)
        if shared is not None:
            return shared
        if _ADDRESS_REJECTION.search(text):
            return SendResult(Outcome.bounced, code=response.status_code, detail=detail)
        return SendResult(Outcome.failed, code=response.status_code, detail=detail)
