"""SSRF: which webhook URLs are refused, with the default settings and with the test ones."""

from __future__ import annotations

import pytest

from maily.config import WebhookSettings
from maily.webhooks.addresses import RefusedURL, check_webhook_url

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"

# Names the tests resolve themselves (no DNS on the test machine); others fail to resolve.
ZONE = {
    "hooks.example.com": [PUBLIC_V4, PUBLIC_V6],
    "internal.example.com": ["10.1.2.3"],
    "metadata.example.com": ["169.254.169.254"],
    "mixed.example.com": [PUBLIC_V4, "127.0.0.1"],
    "mapped.example.com": ["::ffff:10.0.0.1"],
    "zoned.example.com": ["fe80::1%eth0"],
}


async def zone_resolver(host: str, port: int) -> list[str]:
    if host in ZONE:
        return ZONE[host]
    raise OSError(f"{host} does not resolve")


REFUSED = [
    ("http://93.184.215.14/hook", "https"),
    ("ftp://93.184.215.14/hook", "https"),
    ("https://127.0.0.1/hook", "loopback"),
    ("https://127.0.0.1:8443/hook", "loopback"),
    ("https://[::1]/hook", "loopback"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("https://[::]/hook", "unspecified"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://10.0.0.1/hook", "private"),
    ("https://172.16.5.4/hook", "private"),
    ("https://192.168.1.1/hook", "private"),
    ("https://100.64.0.1/hook", "address"),
    ("https://224.0.0.1/hook", "multicast"),
    ("https://240.0.0.1/hook", "reserved"),
    ("https://255.255.255.255/hook", "address"),
    ("https://192.0.2.10/hook", "address"),
    ("https://[::ffff:127.0.0.1]/hook", "loopback"),
    ("https://[::ffff:169.254.169.254]/hook", "link-local"),
    ("https://[fe80::1]/hook", "link-local"),
    ("https://[fc00::1]/hook", "private"),
    ("https://[fd12:3456::1]/hook", "private"),
    ("https://[fec0::1]/hook", "site-local"),
    ("https://[ff02::1]/hook", "multicast"),
    ("https://[64:ff9b::7f00:1]/hook", "loopback"),
    ("https://[2002:7f00:1::1]/hook", "loopback"),
    ("https://[2001:db8::1]/hook", "address"),
    ("https://2130706433/hook", "unusual form"),
    ("https://0177.0.0.1/hook", "unusual form"),
    ("https://0x7f.0.0.1/hook", "unusual form"),
    ("https://127.1/hook", "unusual form"),
    ("https://017700000001/hook", "unusual form"),
    ("https://user:secret@93.184.215.14/hook", "password"),
    ("https://localhost/hook", "loopback"),
    ("https://LOCALHOST./hook", "loopback"),
    ("https://internal.example.com/hook", "private"),
    ("https://metadata.example.com/hook", "link-local"),
    ("https://mixed.example.com/hook", "loopback"),
    ("https://mapped.example.com/hook", "private"),
    ("https://zoned.example.com/hook", "link-local"),
    ("https://nowhere.example.com/hook", "does not resolve"),
    ("https:///hook", "no host"),
    ("https://93.184.215.14:0/hook", "port"),
    ("https://93.184.215.14/ho ok", "spaces"),
    ("", "empty"),
]

ACCEPTED = [
    ("https://93.184.215.14/hook", "https://93.184.215.14/hook"),
    (f"https://[{PUBLIC_V6}]/hook", f"https://[{PUBLIC_V6}]/hook"),
    ("https://hooks.example.com/maily?x=1", "https://hooks.example.com/maily?x=1"),
    ("https://HOOKS.example.com.:8443/p", "https://hooks.example.com:8443/p"),
    ("https://hooks.example.com", "https://hooks.example.com/"),
]


def _resolver_for(url: str):  # type: ignore[no-untyped-def]
    # localhost goes through the operating system's resolver (/etc/hosts).
    if "localhost" in url.lower():
        from maily.webhooks.addresses import system_resolver

        return system_resolver
    return zone_resolver


@pytest.mark.parametrize(("url", "why"), REFUSED, ids=[u or "empty" for u, _ in REFUSED])
async def test_refused_with_default_settings(url: str, why: str) -> None:
    with pytest.raises(RefusedURL) as refused:
        await check_webhook_url(url, WebhookSettings(), _resolver_for(url))
    assert why in str(refused.value)


@pytest.mark.parametrize(("url", "normalised"), ACCEPTED)
async def test_public_https_urls_are_accepted(url: str, normalised: str) -> None:
    checked = await check_webhook_url(url, WebhookSettings(), zone_resolver)
    assert checked.url.url == normalised
    assert checked.addresses


async def test_the_test_setting_lets_loopback_through_and_nothing_else_changes() -> None:
    settings = WebhookSettings(allow_private_addresses=True, allow_http=True)
    checked = await check_webhook_url("http://127.0.0.1:9/hook", settings, zone_resolver)
    assert str(checked.addresses[0]) == "127.0.0.1"
    assert checked.url.pinned(checked.addresses[0]) == "http://127.0.0.1:9/hook"
    # Odd IP spellings and credentials stay refused even then.
    for url in ("http://2130706433/hook", "http://u:p@127.0.0.1/hook", "ftp://127.0.0.1/"):
        with pytest.raises(RefusedURL):
            await check_webhook_url(url, settings, zone_resolver)
    # Plain http needs its own setting.
    with pytest.raises(RefusedURL, match="https"):
        await check_webhook_url(
            "http://127.0.0.1/hook", WebhookSettings(allow_private_addresses=True), zone_resolver
        )


def test_the_private_address_setting_is_refused_in_production() -> None:
    from maily.config import Settings

    with pytest.raises(ValueError, match="ALLOW_PRIVATE_ADDRESSES"):
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="production",
            security={"secret_key": "s" * 40, "encryption_keys": ["x" * 44]},
            webhooks={"allow_private_addresses": True},
        )
