"""Where a webhook may go: an https URL whose host resolves only to public addresses.

Checked when an endpoint is saved and again before every attempt, and the attempt
connects to the very address that was checked (a name that resolved to a public
address when saved and to 127.0.0.1 now — DNS rebinding — is refused, and a name
that changes between the check and the connection cannot slip through)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from maily.config import WebhookSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class RefusedURL(ValueError):
    """A webhook URL that Maily will not call; the message says why."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the operating system's resolver gives for `host`."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class WebhookURL:
    """A parsed, normalised webhook URL (not yet resolved)."""

    scheme: str
    host: str  # lowercase IDNA, no brackets, no trailing dot
    port: int
    target: str  # path and query, as sent in the request line
    literal: IPAddress | None  # the host, when it is an IP address

    @property
    def url(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.target}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def pinned(self, address: IPAddress) -> str:
        """The URL with its host replaced by `address`, to connect to that address."""
        host = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{host}:{self.port}{self.target}"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why `address` is no place for a webhook, or None when it is a public unicast one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:
            return "site-local"
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            problem = address_problem(embedded)
            return f"{problem} (inside {address})" if problem else None
    for kind, flag in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flag:
            return kind
    if not address.is_global:
        return "not publicly routable"
    return None


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # inet_aton reads the forms browsers and curl accept: 2130706433, 0177.0.0.1,
    # 0x7f.1, 127.1. They are refused outright rather than translated: nobody
    # needs them, and they exist mostly to sneak past filters.
    try:
        socket.inet_aton(host)
    except OSError:
        return None
    raise RefusedURL(
        f"{host!r} is an IP address in an unusual form (decimal, octal, hex or shortened); "
        "write it as four decimal numbers, or use a host name"
    )


def parse_webhook_url(raw: str, settings: WebhookSettings) -> WebhookURL:
    raw = raw.strip()
    if not raw:
        raise RefusedURL("the URL is empty")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in raw):
        raise RefusedURL("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(raw)
        port_number = parts.port
    except ValueError as exc:
        raise RefusedURL(f"the URL is not valid: {exc}") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if settings.allow_http else ("https",)
    if scheme not in allowed:
        raise RefusedURL(
            "the URL must start with https://"
            + (" or http://" if settings.allow_http else " (plain http is not allowed)")
        )
    if parts.username is not None or parts.password is not None:
        raise RefusedURL("the URL must not carry a user name or password; use the signature")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise RefusedURL("the URL has no host")
    literal = _ip_literal(host)
    if literal is None:
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise RefusedURL(f"{host!r} is not a valid host name") from None
    else:
        host = str(literal)
    port = port_number if port_number is not None else (443 if scheme == "https" else 80)
    if port == 0:
        raise RefusedURL("port 0 is not a port")
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return WebhookURL(scheme=scheme, host=host, port=port, target=target, literal=literal)


@dataclass(frozen=True)
class CheckedURL:
    url: WebhookURL
    addresses: list[IPAddress]


async def check_webhook_url(
    raw: str, settings: WebhookSettings, resolver: Resolver = system_resolver
) -> CheckedURL:
    """Parse and resolve `raw`; refuse it unless every address it names is public
    (or `allow_private_addresses` is set, for tests with a local receiver)."""
    url = parse_webhook_url(raw, settings)
    if url.literal is not None:
        addresses: list[IPAddress] = [url.literal]
    else:
        try:
            found = await asyncio.wait_for(
                resolver(url.host, url.port), timeout=settings.dns_timeout_seconds
            )
        except TimeoutError:
            raise RefusedURL(f"looking up {url.host!r} took too long") from None
        except OSError:
            raise RefusedURL(f"{url.host!r} does not resolve to any address") from None
        addresses = []
        for value in found:
            # getaddrinfo may append a zone (fe80::1%eth0); the zone never makes it public.
            address = ipaddress.ip_address(value.split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise RefusedURL(f"{url.host!r} does not resolve to any address")
    if not settings.allow_private_addresses:
        for address in addresses:
            problem = address_problem(address)
            if problem is not None:
                where = url.host if url.literal is not None else f"{url.host} resolves to {address}"
                raise RefusedURL(
                    f"{where}: a {problem} address; webhooks may only go to public addresses"
                )
    return CheckedURL(url=url, addresses=addresses)
