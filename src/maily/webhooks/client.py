"""The one place webhooks leave over HTTP: check the URL, connect to the checked address."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from maily import __version__
from maily.config import WebhookSettings
from maily.webhooks.addresses import RefusedURL, Resolver, check_webhook_url, system_resolver

_EXCERPT_BYTES = 2048
_EXCERPT_CHARS = 500
USER_AGENT = f"Maily-Webhooks/{__version__}"


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    status: int | None
    duration_ms: int
    error: str | None
    excerpt: str | None


class WebhookClient:
    """POSTs a signed body to an endpoint. Never follows redirects (a 3xx is a
    failure: following it would reach an address nobody checked)."""

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.resolver = resolver
        self.transport = transport

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> AttemptResult:
        started = time.monotonic()

        def done(
            ok: bool, status: int | None, error: str | None, excerpt: str | None = None
        ) -> AttemptResult:
            elapsed = int((time.monotonic() - started) * 1000)
            return AttemptResult(ok, status, elapsed, error and error[:1000], excerpt)

        try:
            checked = await check_webhook_url(url, self.settings, self.resolver)
        except RefusedURL as exc:
            return done(False, None, f"refused: {exc}")
        target = checked.url
        request_headers = {
            **headers,
            "Host": target.host_header,
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
        }
        # Certificates are checked against the host name, not the pinned address.
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        timeout = httpx.Timeout(
            self.settings.timeout_seconds, connect=self.settings.connect_timeout_seconds
        )
        last_error = "no address to connect to"
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False, transport=self.transport
        ) as client:
            for address in checked.addresses:
                try:
                    request = client.build_request(
                        "POST",
                        target.pinned(address),
                        content=body,
                        headers=request_headers,
                        extensions=extensions,
                    )
                    response = await client.send(request, stream=True)
                except httpx.ConnectError as exc:
                    last_error = f"could not connect to {address}: {exc or type(exc).__name__}"
                    continue  # another address of the same host may answer
                except httpx.TimeoutException as exc:
                    return done(False, None, f"timed out: {type(exc).__name__}")
                except httpx.HTTPError as exc:
                    return done(False, None, f"{type(exc).__name__}: {exc}")
                try:
                    excerpt = await _excerpt(response)
                except httpx.HTTPError as exc:
                    excerpt = None
                    if response.is_success:
                        return done(False, response.status_code, f"reading the answer: {exc}")
                finally:
                    await response.aclose()
                status = response.status_code
                if response.is_success:
                    return done(True, status, None, excerpt)
                reason = "a redirect (not followed)" if response.is_redirect else f"HTTP {status}"
                return done(False, status, f"the endpoint answered {reason}", excerpt)
        return done(False, None, last_error)


async def _excerpt(response: httpx.Response) -> str | None:
    """The start of the answer, read no further than a couple of kilobytes."""
    collected = b""
    async for chunk in response.aiter_bytes():
        collected += chunk
        if len(collected) >= _EXCERPT_BYTES:
            break
    if not collected:
        return None
    return collected[:_EXCERPT_BYTES].decode("utf-8", "replace")[:_EXCERPT_CHARS]
