"""Small raw-ASGI helpers the tracking endpoints and pages share, and the bridge that
serves the ASGI app's quieter paths under granian's RSGI interface."""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Awaitable, Callable, Container, Iterable
from typing import Any

from maily.tracking.networks import address_number, in_ranges, network_ranges

__all__ = [
    "ASGIApp",
    "Answer",
    "Receive",
    "Scope",
    "Send",
    "TrustedProxies",
    "client_ip",
    "header",
    "location",
    "page",
    "read_form",
    "rsgi_client_ip",
    "send_html",
    "send_text",
    "serve_asgi",
    "text_answer",
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
        return _believed(peer, header(scope, b"x-forwarded-for"))
    return peer


def _believed(peer: str, forwarded: str | None) -> str:
    """The address a trusted proxy saw: the last X-Forwarded-For entry (earlier ones
    are whatever the client claimed), or the peer when there is none."""
    return forwarded.rsplit(",", 1)[-1].strip() if forwarded else peer


def _host(address: str) -> str:
    """The host of RSGI's "host:port" ("[v6]:port" for IPv6)."""
    host = address.rpartition(":")[0]
    return host[1:-1] if host.startswith("[") else host


def _address(address: str) -> tuple[str, int] | None:
    """RSGI's "host:port" as ASGI's (host, port)."""
    port = address.rpartition(":")[2]
    return (_host(address), int(port)) if port.isdigit() else None


def rsgi_client_ip(scope: Any, trusted_proxies: Container[str] = frozenset()) -> str:
    """`client_ip` of an RSGI request."""
    peer = _host(scope.client)
    if peer in trusted_proxies:
        return _believed(peer, scope.headers.get("x-forwarded-for"))
    return peer


def _latin1(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace")


async def serve_asgi(app: ASGIApp, scope: Any, protocol: Any) -> None:
    """Serve one RSGI request through an ASGI app: the request's body streamed to it
    as `http.request` messages, its response (a page or a short text: these paths
    answer a few kilobytes at most) collected and sent in one piece. An app that ends
    without answering gets 500."""
    chunks = protocol.__aiter__()
    finished = False

    async def receive() -> dict[str, Any]:
        nonlocal finished
        if finished:
            await protocol.client_disconnect()
            return {"type": "http.disconnect"}
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            finished = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": bytes(chunk), "more_body": True}

    status = 0
    headers: list[tuple[str, str]] = []
    parts: list[bytes] = []
    answered = False

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, answered
        if answered:
            return
        if message["type"] == "http.response.start":
            status = message["status"]
            headers[:] = [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in message.get("headers", ())
            ]
        elif message["type"] == "http.response.body" and status:
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                answered = True
                protocol.response_bytes(status, headers, b"".join(parts))

    asgi_scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": scope.http_version,
        "method": scope.method,
        "scheme": scope.scheme,
        "path": scope.path,
        "query_string": _latin1(scope.query_string),
        "root_path": "",
        "headers": [(_latin1(name), _latin1(value)) for name, value in scope.headers.items()],
        "client": _address(scope.client),
        "server": _address(scope.server),
    }
    await app(asgi_scope, receive, send)
    if not answered:
        raw = b"internal error: no response\n"
        protocol.response_bytes(
            500,
            [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(raw)))],
            raw,
        )


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


class Answer:
    """One response, made once and kept in both servers' forms: the two ASGI
    messages, and RSGI's status, headers (str) and body."""

    __slots__ = ("body", "content", "headers", "start", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
        self.status = status
        self.headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in headers
        ]
        self.content = content
        self.start: dict[str, Any] = {
            "type": "http.response.start",
            "status": status,
            "headers": headers,
        }
        self.body: dict[str, Any] = {"type": "http.response.body", "body": content}


def text_answer(status: int, text: str, headers: list[Any] | None = None) -> Answer:
    raw = text.encode()
    return Answer(
        status,
        [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(raw)),
            (b"cache-control", b"no-store"),
            *(headers or []),
        ],
        raw,
    )


async def send_text(send: Send, status: int, text: str, headers: list[Any] | None = None) -> None:
    answer = text_answer(status, text, headers)
    await send(answer.start)
    await send(answer.body)


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
