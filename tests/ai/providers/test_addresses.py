"""Which base URLs a provider may have: the webhooks' guard, with loopback and private
addresses by setting and plain http only off the public internet."""

from __future__ import annotations

import pytest

from maily.ai.providers.addresses import RefusedURL, Resolver, allows_loopback, check_base_url
from maily.config import Environment, Settings
from tests.ai.providers.conftest import with_ai_providers


def resolving_to(*addresses: str) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def in_environment(settings: Settings, environment: Environment, **policy: object) -> Settings:
    changed = with_ai_providers(settings, **{"allow_loopback": None, **policy})
    return changed.model_copy(update={"environment": environment})


async def test_loopback_is_allowed_in_development_only_by_default(settings: Settings) -> None:
    development = in_environment(settings, Environment.development)
    production = in_environment(settings, Environment.production)
    assert allows_loopback(development)
    assert not allows_loopback(production)
    assert await check_base_url("http://127.0.0.1:11434/v1/", development) == (
        "http://127.0.0.1:11434/v1"
    )
    with pytest.raises(RefusedURL, match="MAILY_AI_PROVIDERS__ALLOW_LOOPBACK"):
        await check_base_url("http://127.0.0.1:11434/v1", production)
    with pytest.raises(RefusedURL, match="loopback"):
        await check_base_url("http://localhost:8000/v1", production, resolving_to("::1"))
    opted_in = in_environment(settings, Environment.production, allow_loopback=True)
    assert await check_base_url("http://[::1]:8000/v1", opted_in) == "http://[::1]:8000/v1"


async def test_private_addresses_need_the_setting(settings: Settings) -> None:
    strict = in_environment(settings, Environment.production)
    lan = in_environment(settings, Environment.production, allow_private_addresses=True)
    resolver = resolving_to("192.168.1.20")
    with pytest.raises(RefusedURL, match="ALLOW_PRIVATE_ADDRESSES"):
        await check_base_url("http://gpu-box.lan:8000/v1", strict, resolver)
    assert (
        await check_base_url("http://gpu-box.lan:8000/v1", lan, resolver)
        == "http://gpu-box.lan:8000/v1"
    )
    # Allowing private addresses allows loopback too.
    assert await check_base_url("http://127.0.0.1:1234/v1", lan) == "http://127.0.0.1:1234/v1"


async def test_public_hosts_need_https(settings: Settings) -> None:
    production = in_environment(settings, Environment.production)
    public = resolving_to("93.184.215.14")
    assert (
        await check_base_url("https://api.example.com/v1", production, public)
        == "https://api.example.com/v1"
    )
    with pytest.raises(RefusedURL, match="plain http"):
        await check_base_url("http://api.example.com/v1", production, public)
    # One private address among public ones is enough to refuse (DNS pointing inward).
    with pytest.raises(RefusedURL, match="private"):
        await check_base_url(
            "https://api.example.com/v1", production, resolving_to("93.184.215.14", "10.0.0.5")
        )
    for url in ("file:///etc/passwd", "gopher://x/", "https://", "https://a.example/v1?x=1"):
        with pytest.raises(RefusedURL):
            await check_base_url(url, production, public)
