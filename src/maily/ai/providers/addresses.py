"""Where a workspace's model provider may be: an http(s) base URL, checked with the
webhooks' address guard, with loopback and private addresses allowed by setting.

Checked when a provider is saved and again each time its model is built for a call
(a name that now resolves elsewhere is refused then). Plain http is accepted only for
hosts that are not public (a local Ollama or vLLM): a key sent in clear over the
internet is a key given away."""

from __future__ import annotations

from maily.config import AIProviderSettings, Settings, WebhookSettings
from maily.webhooks.addresses import (
    RefusedURL,
    Resolver,
    address_problem,
    check_webhook_url,
    system_resolver,
)

__all__ = ["RefusedURL", "Resolver", "check_base_url", "system_resolver"]


def allows_loopback(settings: Settings) -> bool:
    policy = settings.ai_providers
    if policy.allow_private_addresses:
        return True
    if policy.allow_loopback is not None:
        return policy.allow_loopback
    return settings.is_development


async def check_base_url(raw: str, settings: Settings, resolver: Resolver = system_resolver) -> str:
    """The normalised base URL, or RefusedURL saying why Maily will not call it."""
    policy: AIProviderSettings = settings.ai_providers
    # Parse and resolve with the webhooks' guard; the address rules are applied here.
    guard = WebhookSettings(
        allow_http=True,
        allow_private_addresses=True,
        dns_timeout_seconds=policy.dns_timeout_seconds,
    )
    checked = await check_webhook_url(raw, guard, resolver)
    url = checked.url
    if url.target.count("?"):
        raise RefusedURL("a base URL must not carry a query string")
    loopback = allows_loopback(settings)
    public = True
    for address in checked.addresses:
        problem = address_problem(address)
        if problem is None:
            continue
        public = False
        if problem == "loopback" and loopback:
            continue
        if policy.allow_private_addresses:
            continue
        where = url.host if url.literal is not None else f"{url.host} resolves to {address}"
        setting = (
            "MAILY_AI_PROVIDERS__ALLOW_LOOPBACK"
            if problem == "loopback"
            else "MAILY_AI_PROVIDERS__ALLOW_PRIVATE_ADDRESSES"
        )
        raise RefusedURL(
            f"{where}: a {problem} address; the operator allows model servers there with {setting}"
        )
    if url.scheme == "http" and public:
        raise RefusedURL(
            "the URL must start with https:// (plain http is only accepted for model "
            "servers on loopback or private addresses)"
        )
    return url.url.rstrip("/")
