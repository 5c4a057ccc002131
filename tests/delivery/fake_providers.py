"""Local stand-ins for the email providers' HTTP APIs: a real HTTP server on loopback.

One Starlette app under uvicorn, in its own thread and event loop, speaks Amazon SES v2
(SendEmail, SigV4 checked with botocore), Postmark (batch), SendGrid (v3 mail send) and
Mailgun (messages.mime). It checks each provider's credentials the way the provider
does, records what it accepted, and answers a chosen recipient with a chosen failure
(throttling, a server error, a rejection, or no answer at all) in that provider's own
error format. Transports under test reach it over TCP like the real APIs.

    with running_fake_providers() as fake:
        fake.react("slow@example.com", Reaction.hang)
        transport = PostmarkTransport(PostmarkSettings(base_url=fake.base_url, ...))
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from enum import StrEnum
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from maily.delivery.transports.base import OutgoingMessage
from tests.asgi_server import serving

SES_KEY_ID = "AKIAFAKEPROVIDER0001"
SES_SECRET = "fake-ses-secret-access-key/0000000000000"
SES_REGION = "eu-west-1"
POSTMARK_TOKEN = "fake-postmark-server-token"
SENDGRID_KEY = "SG.fake-sendgrid-api-key"
MAILGUN_KEY = "fake-mailgun-api-key"
MAILGUN_DOMAIN = "mg.example.com"

_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


class Reaction(StrEnum):
    """How the fake answers a message to a given recipient."""

    throttle = "throttle"  # 429, the provider's rate limit
    server_error = "server_error"  # 500
    reject = "reject"  # the provider refuses the message (400 or its error code)
    bad_recipient = "bad_recipient"  # the provider refuses the recipient's address
    inactive = "inactive"  # Postmark's 406 inactive recipient (others: bad_recipient)
    paused = "paused"  # SES: the account's sending is paused (others: server_error)
    hang = "hang"  # reads the request, never answers (until the server stops)


@dataclass(frozen=True)
class Received:
    """A message the fake accepted."""

    provider: str
    recipient: str
    provider_message_id: str
    # The MIME message, for raw APIs (SES, Mailgun).
    raw: bytes | None
    # The request as the provider saw it: JSON message, or the form fields.
    payload: dict[str, Any]


@dataclass
class FakeProviders:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    # (provider, messages in the request) for every authenticated call.
    calls: list[tuple[str, int]] = field(default_factory=list)
    reactions: dict[str, Reaction] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _hanging: int = 0
    _peak_hanging: int = 0
    _hung_total: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _release: asyncio.Event | None = None

    def __post_init__(self) -> None:
        self._hanging_changed = threading.Condition(self._lock)

    def react(self, recipient: str, reaction: Reaction) -> None:
        self.reactions[recipient.lower()] = reaction

    def reset(self) -> None:
        """Forget everything, after letting hung requests finish."""
        with self._lock:
            self.reactions.clear()
        self.release_hung()
        with self._hanging_changed:
            if not self._hanging_changed.wait_for(lambda: self._hanging == 0, 10.0):
                raise AssertionError("hung requests did not finish after their release")
            self.received.clear()
            self.calls.clear()
            self._peak_hanging = 0
            self._hung_total = 0

    def messages(self, provider: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.provider == provider]

    def calls_to(self, provider: str) -> list[int]:
        with self._lock:
            return [n for p, n in self.calls if p == provider]

    @property
    def peak_hanging(self) -> int:
        """The most requests that were hanging at the same time."""
        with self._lock:
            return self._peak_hanging

    def wait_hung(self, total: int, timeout: float = 10.0) -> None:
        """Block until `total` requests have hung since the last reset (call it from a
        thread, not from the loop the transport under test runs on)."""
        with self._hanging_changed:
            if not self._hanging_changed.wait_for(lambda: self._hung_total >= total, timeout):
                raise AssertionError(f"{total} requests never hung; {self._hung_total} did")

    def release_hung(self) -> None:
        """Let the requests hanging now carry on (and be answered as if they had not
        hung); later ones hang again."""
        if self._loop is None:
            return

        def swap() -> None:
            if self._release is not None:
                self._release.set()
            self._release = asyncio.Event()

        self._loop.call_soon_threadsafe(swap)

    # -- inside the server's loop ------------------------------------------------

    def _reaction(self, recipients: list[str]) -> Reaction | None:
        for recipient in recipients:
            reaction = self.reactions.get(recipient.lower())
            if reaction is not None:
                return reaction
        return None

    def _record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def _call(self, provider: str, count: int) -> None:
        with self._lock:
            self.calls.append((provider, count))

    async def _hang(self) -> None:
        release = self._release
        assert release is not None
        with self._hanging_changed:
            self._hanging += 1
            self._hung_total += 1
            self._peak_hanging = max(self._peak_hanging, self._hanging)
            self._hanging_changed.notify_all()
        try:
            await release.wait()
        finally:
            with self._hanging_changed:
                self._hanging -= 1
                self._hanging_changed.notify_all()

    # -- Amazon SES v2 -----------------------------------------------------------

    def _ses_auth_problem(self, request: Request, body: bytes) -> str | None:
        """Checks the SigV4 signature as AWS would: key id, scope, time, signature."""
        match = _SIGV4.fullmatch(request.headers.get("authorization", ""))
        if match is None:
            return "MissingAuthenticationTokenException:Missing or malformed Authorization header"
        if match["key"] != SES_KEY_ID:
            return (
                "UnrecognizedClientException:The security token included in the request is invalid."
            )
        if match["region"] != SES_REGION or match["service"] != "ses":
            return f"SignatureDoesNotMatch:Credential should be scoped to {SES_REGION}/ses"
        amz_date = request.headers.get("x-amz-date", "")
        try:
            when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return "IncompleteSignatureException:X-Amz-Date is missing or malformed"
        if abs(datetime.now(UTC) - when) > timedelta(minutes=15) or match["date"] != amz_date[:8]:
            return "InvalidSignatureException:Signature expired"
        signed = match["signed"].split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            return "SignatureDoesNotMatch:host and x-amz-date must be signed"
        rebuilt = AWSRequest(
            method=request.method,
            url=str(request.url),
            data=body,
            headers={name: request.headers.get(name, "") for name in signed},
        )
        rebuilt.context["timestamp"] = amz_date
        signer = SigV4Auth(ReadOnlyCredentials(SES_KEY_ID, SES_SECRET, None), "ses", SES_REGION)
        expected = signer.signature(
            signer.string_to_sign(rebuilt, signer.canonical_request(rebuilt)), rebuilt
        )
        if not hmac.compare_digest(expected, match["signature"]):
            return (
                "SignatureDoesNotMatch:The request signature we calculated does not match "
                "the signature you provided."
            )
        return None

    @staticmethod
    def _ses_error(status: int, code: str, message: str) -> Response:
        return JSONResponse(
            {"message": message},
            status_code=status,
            headers={
                "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"
            },
        )

    async def ses_send(self, request: Request) -> Response:
        body = await request.body()
        problem = self._ses_auth_problem(request, body)
        if problem is not None:
            code, message = problem.split(":", 1)
            return self._ses_error(403, code, message)
        self._call("ses", 1)
        try:
            payload = json.loads(body)
            recipients = list(payload["Destination"]["ToAddresses"])
            raw = base64.b64decode(payload["Content"]["Raw"]["Data"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            return self._ses_error(400, "BadRequestException", "Invalid request body")
        reaction = self._reaction(recipients)
        if reaction is Reaction.hang:
            await self._hang()
        if reaction is Reaction.throttle:
            return self._ses_error(
                429, "TooManyRequestsException", "Maximum sending rate exceeded."
            )
        if reaction is Reaction.server_error:
            return self._ses_error(500, "InternalFailure", "An internal error occurred.")
        if reaction is Reaction.paused:
            return self._ses_error(
                400, "SendingPausedException", "Sending is paused for this account."
            )
        if reaction is Reaction.reject:
            return self._ses_error(
                400,
                "MessageRejected",
                "Email address is not verified. The following identities failed the check "
                f"in region {SES_REGION.upper()}: sender@example.com",
            )
        if reaction in (Reaction.bad_recipient, Reaction.inactive):
            return self._ses_error(400, "BadRequestException", "Illegal address")
        message_id = f"0102018c{uuid.uuid4().hex}-000000"
        for recipient in recipients:
            self._record(Received("ses", recipient, message_id, raw, payload))
        return JSONResponse({"MessageId": message_id})

    # -- Postmark ----------------------------------------------------------------

    async def postmark_batch(self, request: Request) -> Response:
        if request.headers.get("x-postmark-server-token") != POSTMARK_TOKEN:
            return JSONResponse(
                {"ErrorCode": 10, "Message": "Request does not contain a valid Server token."},
                status_code=401,
            )
        try:
            batch = await request.json()
        except ValueError:
            batch = None
        if not isinstance(batch, list) or not batch or len(batch) > 500:
            return JSONResponse(
                {"ErrorCode": 300, "Message": "Provide between 1 and 500 messages."},
                status_code=422,
            )
        self._call("postmark", len(batch))
        reactions = [self._reaction([str(m.get("To", ""))]) for m in batch]
        if Reaction.hang in reactions:
            await self._hang()
        if Reaction.throttle in reactions:
            return JSONResponse({"ErrorCode": 429, "Message": "Rate limit exceeded"}, 429)
        if Reaction.server_error in reactions or Reaction.paused in reactions:
            return JSONResponse({"ErrorCode": 500, "Message": "Internal Server Error"}, 500)
        verdicts = []
        for message, reaction in zip(batch, reactions, strict=True):
            to = str(message.get("To", ""))
            verdict: dict[str, Any] = {"To": to, "SubmittedAt": datetime.now(UTC).isoformat()}
            if reaction is Reaction.inactive:
                verdict |= {
                    "ErrorCode": 406,
                    "Message": "You tried to send to recipient(s) that have been marked as inactive.",
                }
            elif reaction is Reaction.bad_recipient:
                verdict |= {
                    "ErrorCode": 300,
                    "Message": f"Error parsing 'To': Illegal email address '{to}'.",
                }
            elif reaction is Reaction.reject or not message.get("From"):
                verdict |= {
                    "ErrorCode": 300,
                    "Message": "Invalid 'From' address: 'sender@example.com'.",
                }
            else:
                message_id = str(uuid.uuid4())
                verdict |= {"ErrorCode": 0, "Message": "OK", "MessageID": message_id}
                self._record(Received("postmark", to, message_id, None, message))
            verdicts.append(verdict)
        return JSONResponse(verdicts)

    # -- SendGrid ----------------------------------------------------------------

    async def sendgrid_send(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {SENDGRID_KEY}":
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": "The provided authorization grant is invalid, expired, or revoked",
                            "field": None,
                            "help": None,
                        }
                    ]
                },
                status_code=401,
            )
        try:
            payload = await request.json()
            recipients = [str(to["email"]) for p in payload["personalizations"] for to in p["to"]]
        except (ValueError, KeyError, TypeError):
            return JSONResponse(
                {"errors": [{"message": "Bad Request", "field": None}]}, status_code=400
            )
        self._call("sendgrid", 1)
        reaction = self._reaction(recipients)
        if reaction is Reaction.hang:
            await self._hang()
        if reaction is Reaction.throttle:
            return JSONResponse(
                {"errors": [{"message": "too many requests", "field": None}]},
                status_code=429,
                headers={"X-RateLimit-Reset": str(int(datetime.now(UTC).timestamp()) + 7)},
            )
        if reaction in (Reaction.server_error, Reaction.paused):
            return JSONResponse({"errors": [{"message": "internal error"}]}, status_code=500)
        if reaction in (Reaction.bad_recipient, Reaction.inactive):
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": "Does not contain a valid address.",
                            "field": "personalizations.0.to.0.email",
                        }
                    ]
                },
                status_code=400,
            )
        if reaction is Reaction.reject or not payload.get("content"):
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": "The content value must be a string at least one character in length.",
                            "field": "content.0.value",
                        }
                    ]
                },
                status_code=400,
            )
        message_id = uuid.uuid4().hex[:22]
        for recipient in recipients:
            self._record(Received("sendgrid", recipient, message_id, None, payload))
        return Response(status_code=202, headers={"X-Message-Id": message_id})

    # -- Mailgun -----------------------------------------------------------------

    async def mailgun_mime(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"api:{MAILGUN_KEY}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return PlainTextResponse("Forbidden", status_code=401)
        domain = request.path_params["domain"]
        if domain != MAILGUN_DOMAIN:
            return JSONResponse({"message": f"Domain not found: {domain}"}, status_code=404)
        form = await request.form()
        to = form.get("to")
        upload = form.get("message")
        if not isinstance(to, str) or not isinstance(upload, UploadFile):
            return JSONResponse({"message": "'to' and 'message' are required"}, status_code=400)
        raw = await upload.read()
        self._call("mailgun", 1)
        reaction = self._reaction([to])
        if reaction is Reaction.hang:
            await self._hang()
        if reaction is Reaction.throttle:
            return JSONResponse({"message": "Too many requests"}, status_code=429)
        if reaction in (Reaction.server_error, Reaction.paused):
            return JSONResponse({"message": "Internal Server Error"}, status_code=500)
        if reaction in (Reaction.bad_recipient, Reaction.inactive):
            return JSONResponse(
                {"message": "to parameter is not a valid address. please check documentation"},
                status_code=400,
            )
        if reaction is Reaction.reject:
            return JSONResponse({"message": "Message is not valid MIME"}, status_code=400)
        message_id = f"{uuid.uuid4().hex}@{MAILGUN_DOMAIN}"
        fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
        self._record(Received("mailgun", to, message_id, raw, fields))
        return JSONResponse({"id": f"<{message_id}>", "message": "Queued. Thank you."})

    def app(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            self._loop = asyncio.get_running_loop()
            self._release = asyncio.Event()
            yield

        return Starlette(
            routes=[
                Route("/v2/email/outbound-emails", self.ses_send, methods=["POST"]),
                Route("/email/batch", self.postmark_batch, methods=["POST"]),
                Route("/v3/mail/send", self.sendgrid_send, methods=["POST"]),
                Route("/v3/{domain}/messages.mime", self.mailgun_mime, methods=["POST"]),
            ],
            lifespan=lifespan,
        )


@contextmanager
def running_fake_providers() -> Iterator[FakeProviders]:
    """Serve the fake on a free loopback port for the duration of the block."""
    fake = FakeProviders()
    with serving(fake.app(), lifespan="on", stop_timeout=10) as url:
        fake.base_url = url
        try:
            yield fake
        finally:
            fake.release_hung()


def outgoing(
    recipient: str,
    *,
    workspace_id: uuid.UUID | None = None,
    delivery_id: uuid.UUID | None = None,
    subject: str = "Hello from Maily",
    sender: str = "Acme News <news@example.com>",
    return_path: str = "bounces+abc@example.com",
    text: str | None = "Hello, plain reader.",
    html: str | None = "<p>Hello, <b>HTML</b> reader.</p>",
    metadata: dict[str, str] | None = None,
) -> OutgoingMessage:
    """A finished message as the pipeline hands it to a transport: real MIME bytes
    with CRLF line endings, and the same message in parts."""
    mime = EmailMessage()
    mime["From"] = sender
    mime["To"] = recipient
    mime["Subject"] = subject
    mime["Date"] = formatdate(localtime=False)
    message_id = make_msgid(domain="example.com")
    extra = [
        ("Message-ID", message_id),
        ("List-Unsubscribe", "<https://maily.example.com/u/token>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Reply-To", "replies@example.com"),
    ]
    for name, value in extra:
        mime[name] = value
    if text is not None:
        mime.set_content(text)
    if html is not None:
        if text is not None:
            mime.add_alternative(html, subtype="html")
        else:
            mime.set_content(html, subtype="html")
    data = mime.as_bytes(policy=mime.policy.clone(linesep="\r\n"))
    return OutgoingMessage(
        delivery_id=delivery_id,
        workspace_id=workspace_id or uuid.uuid4(),
        envelope_from=return_path,
        recipient=recipient,
        data=data,
        from_header=sender,
        to_header=recipient,
        subject=subject,
        html=html,
        text=text,
        headers=tuple(extra),
        metadata=metadata or {},
    )
