"""Small raw-ASGI helpers the tracking endpoints and pages share."""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Awaitable, Callable, Container, Iterable
from typing import Any

from maily.tracking.networks import address_number, in_ranges, network_ranges

__all__ = [
    "ASGIApp",
    "Receive",
    "Scope",
    "Send",
    "TrustedProxies",
    "client_ip",
    "header",
    "location",
    "page",
    "read_form",
    "send_html",
    "send_text",
]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A form post to the unsubscribe or preference page is a few hundred bytes.
MAX_FORM_BYTES = 16 * 1024
# Characters a URL may keep as they are in a Location header; others are escaped.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


class TrustedProxies:
    """The peers whose X-Forwarded-For is believed: addresses and networks in CIDR
    form (`10.0.0.0/8`, `fd00::/8`), as a load balancer's or an ingress's pods are
    known. One bisect per request (`maily.tracking.networks`)."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.starts, self.ends = network_ranges(entry.strip() for entry in entries)

    def __bool__(self) -> bool:
        return bool(self.starts)

    def __contains__(self, peer: object) -> bool:
        if not self.starts or not isinstance(peer, str):
            return False
        address = address_number(peer)
        return address is not None and in_ranges(self.starts, self.ends, address)


def client_ip(scope: Scope, trusted_proxies: Container[str] = frozenset()) -> str:
    """The requester's address: the connection's peer, or, when the peer is one of
    `trusted_proxies`, the address that proxy put last in X-Forwarded-For (the one
    it saw; earlier entries are whatever the client claimed)."""
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    if peer in trusted_proxies:
        forwarded = header(scope, b"x-forwarded-for")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip()
    return peer


def location(url: str) -> bytes:
    try:
        raw = url.encode("ascii")
    except UnicodeEncodeError:
        raw = urllib.parse.quote(url, safe=_URL_SAFE).encode("ascii")
    if b"\r" in raw or b"\n" in raw or b" " in raw:
        raw = urllib.parse.quote(url, safe=_URL_SAFE).encode("ascii")
    return raw


async def send_html(send: Send, status: int, body: str) -> None:
    raw = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(raw)).encode()),
                (b"cache-control", b"no-store"),
                (b"x-robots-tag", b"noindex"),
                (b"referrer-policy", b"no-referrer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


async def send_text(send: Send, status: int, text: str, headers: list[Any] | None = None) -> None:
    raw = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(raw)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


async def read_form(receive: Receive) -> dict[str, list[str]] | None:
    """An urlencoded request body, or None when it's larger than a form should be."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES:
            return None
        if not message.get("more_body", False):
            break
    return urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;"
        "padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.5rem 1rem}</style>"
        f"</head><body>{body}</body></html>"
    )
