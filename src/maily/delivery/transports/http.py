"""What the provider API transports share: a pooled HTTP client, bounded concurrency,
and the rule for what a failed HTTP call says about a message's fate."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import ParamSpec, TypeVar

import httpx

from maily.config import ProviderAPISettings
from maily.delivery.transports.base import Outcome, OutgoingMessage, SendResult
from maily.kit.resilience import CircuitBreaker

P = ParamSpec("P")
T = TypeVar("T")

# Headers a provider API sets itself, or that only make sense in the raw message
# (the provider signs with its own DKIM key when it builds the MIME).
STRUCTURED_SKIP_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "dkim-signature",
        "return-path",
    }
)
# A provider error text is kept for the ledger, not whole HTML error pages.
DETAIL_LIMIT = 500


def detail_of(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"


def retry_after(response: httpx.Response) -> float | None:
    """The server's Retry-After, in seconds: a number or an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_result(response: httpx.Response, detail: str) -> SendResult | None:
    """The outcome every provider shares for an HTTP status: throttling and server
    errors are temporary, refused credentials are not; None for the provider to decide."""
    status = response.status_code
    if status == 429 or status >= 500:
        return SendResult(
            Outcome.deferred, code=status, detail=detail, retry_after=retry_after(response)
        )
    if status in (401, 403):
        return SendResult(
            Outcome.failed,
            code=status,
            detail=f"the provider refused the credentials (HTTP {status}): {detail}",
        )
    return None


def exception_result(exc: Exception) -> SendResult:
    """What an exception from the HTTP client says about the message.

    Nothing can have been accepted when the connection never opened or the request
    was not completely written, so it is deferred. Once the whole request went out,
    a missing answer leaves the message's fate unknown: the provider may have queued it."""
    text = detail_of(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return SendResult(Outcome.deferred, detail=f"could not connect: {text}")
    if isinstance(exc, httpx.WriteError | httpx.WriteTimeout):
        return SendResult(Outcome.deferred, detail=f"request not completely sent: {text}")
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol | httpx.InvalidURL):
        return SendResult(Outcome.failed, detail=f"request could not be made: {text}")
    if isinstance(exc, httpx.HTTPError):
        return SendResult(Outcome.unknown, detail=f"no answer after the request was sent: {text}")
    return SendResult(Outcome.failed, detail=f"request could not be built: {text}")


def _provider_trouble(result: SendResult) -> bool:
    """A result that says the provider, not the message, is the problem."""
    return result.outcome in (Outcome.deferred, Outcome.unknown) and (
        result.code is None or result.code == 429 or result.code >= 500
    )


class HTTPTransport:
    """Base of the provider API transports. Subclasses build and read requests; this
    class owns the pool, the concurrency bound and shutdown."""

    name = "http"

    def __init__(
        self,
        settings: ProviderAPISettings,
        *,
        default_base_url: str,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
    ) -> None:
        self.base_url = (settings.base_url or default_base_url).rstrip("/")
        self.max_concurrency = settings.max_concurrency
        self._limit = asyncio.Semaphore(settings.max_concurrency)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"User-Agent": "Maily", **(headers or {})},
            auth=auth,
            timeout=httpx.Timeout(
                settings.timeout_seconds, connect=settings.connect_timeout_seconds
            ),
            limits=httpx.Limits(
                max_connections=settings.max_concurrency,
                max_keepalive_connections=settings.max_concurrency,
            ),
            # Provider APIs answer where they are asked; a redirect is not followed
            # with a message body.
            follow_redirects=False,
        )
        # Opens after consecutive batches the provider did not take at all (it is down
        # or throttling everything): further sends are deferred without calling it.
        self.breaker = CircuitBreaker(
            f"transport:{self.name}",
            failure_threshold=settings.breaker_failure_threshold,
            cooldown_seconds=settings.breaker_cooldown_seconds,
        )
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client

    async def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        if self._closed:
            return [
                SendResult(Outcome.deferred, detail=f"the {self.name} transport is closed")
                for _ in messages
            ]
        if not self.breaker.allow():
            wait = self.breaker.retry_after
            detail = f"the {self.name} API is failing; sending paused for {wait:.0f} s"
            return [SendResult(Outcome.deferred, detail=detail, retry_after=wait) for _ in messages]
        self._in_flight += 1
        self._idle.clear()
        try:
            results = await self.deliver(messages)
            if results and all(_provider_trouble(r) for r in results):
                self.breaker.record_failure()
            elif results:
                self.breaker.record_success()
            return results
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def deliver(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """One request per message, at most `max_concurrency` at once."""
        return list(await asyncio.gather(*(self.guarded(self.send_one, m) for m in messages)))

    async def send_one(self, message: OutgoingMessage) -> SendResult:
        raise NotImplementedError

    async def guarded(
        self, call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> T | SendResult:
        """Run one provider call inside the concurrency bound, turning any exception
        into a result: one message's trouble never fails the others."""
        async with self._limit:
            try:
                return await call(*args, **kwargs)
            except Exception as exc:
                return exception_result(exc)

    async def aclose(self) -> None:
        self._closed = True
        await self._idle.wait()
        await self._client.aclose()
