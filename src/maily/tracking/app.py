"""The public tracking endpoints as a raw ASGI (and RSGI) app: no framework routing on the path
that every opened message and every click takes.

    GET /t/o/<token>[.gif]  open pixel (43-byte GIF, never cached)
    GET /t/c/<token>        302 to exactly the URL the message carried
    GET|POST /u/<token>     unsubscribe (RFC 8058 one-click POST; GET asks to confirm)
    GET|POST /p/<token>     preference center (reads PostgreSQL: it shows the lists)
    GET /v/<token>          the message, in the browser (reads PostgreSQL)

Served two ways: as an ASGI app (inside the API, and in tests), and under granian's
RSGI interface for `maily tracking`, where the open pixel and the click redirect are
answered with one synchronous call per request instead of two awaited ASGI messages
(the other paths go through a small ASGI bridge, `maily.tracking.http.serve_asgi`).

Opens, clicks and unsubscribes append an event to the Redis stream (through the
batcher). An open or click answers at once: the batcher sends its event with the next
batch and again, for `tracking.retry_seconds`, if Redis did not take it; only while
`tracking.max_unacknowledged_events` are unacknowledged does a request wait for its
own. An open or click whose event can't be stored is still answered (the pixel, the
redirect when the link is known) and counted in `maily_tracking_events_lost`. An
unsubscribe answers once Redis has its event, and 503 when it can't be stored, never
a success it didn't record. Anything that does not verify gets 404 and no event."""

from __future__ import annotations

import time
import uuid
from binascii import hexlify
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.analytics.stream import (
    MAX_USER_AGENT,
    EventKind,
    MachineReason,
    TrackingEvent,
    UnsubscribeChannel,
    encode_event,
)
from maily.config import Settings
from maily.kit.db import AsyncSession
from maily.kit.logging import get_logger
from maily.tracking.batcher import ENTRY_HEADS, EventBatcher, EventNotStored, bulk
from maily.tracking.http import (
    Answer,
    ASGIApp,
    Receive,
    Scope,
    Send,
    client_ip,
    header,
    location,
    page,
    read_form,
    rsgi_client_ip,
    send_html,
    send_text,
    serve_asgi,
    text_answer,
)
from maily.tracking.links import LinkTables
from maily.tracking.machines import MachineRules
from maily.tracking.metrics import (
    TRACKING_EVENTS,
    TRACKING_EVENTS_LOST,
    TRACKING_LATENCY,
    TRACKING_REFUSED,
)
from maily.tracking.tokens import CLICK_PAYLOAD, OPEN_PAYLOAD, TokenKind, TokenSigner

__all__ = ["PIXEL", "PUBLIC_PREFIXES", "TrackingApp", "TrackingContext"]

# The smallest transparent 1x1 GIF (GIF89a, one transparent pixel): 43 bytes.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
PUBLIC_PREFIXES = ("/t/", "/u/", "/p/", "/v/")


_PIXEL = Answer(
    200,
    [
        (b"content-type", b"image/gif"),
        (b"content-length", b"43"),
        (b"cache-control", b"no-store, no-cache, must-revalidate, max-age=0"),
        (b"pragma", b"no-cache"),
        (b"expires", b"0"),
    ],
    PIXEL,
)
_NOT_FOUND = text_answer(404, "not found: this link is not valid\n")
_UNAVAILABLE = text_answer(503, "this link can't be followed right now; try again\n")
_OPEN, _CLICK = int(TokenKind.open), int(TokenKind.click)

_log = get_logger("maily.tracking")

# The metric children of each kind, bound once: labels() costs more than inc().
_TRACKED_KINDS = (EventKind.open, EventKind.click, EventKind.unsubscribe)
# An enum member's .value is a Python-level property: read once.
_VALUES = {kind: kind.value for kind in _TRACKED_KINDS}
# The hot path's entry fields in RESP, as the batcher packs them: the kind and the
# delivery field's name and length (the 32 hex digits follow), and the machine flag.
_KIND_FIELDS = {
    kind: bulk(b"k") + bulk(kind.value.encode()) + b"$1\r\nd\r\n$32\r\n"
    for kind in (EventKind.open, EventKind.click)
}
_MACHINE_FIELDS = {reason: bulk(b"m") + bulk(reason.value.encode()) for reason in MachineReason}
_LOST = {kind: TRACKING_EVENTS_LOST.labels(kind=kind.value) for kind in _TRACKED_KINDS}
_OPEN_LATENCY = TRACKING_LATENCY["open"]
_CLICK_LATENCY = TRACKING_LATENCY["click"]
_EVENT_PATHS = ("/t/o/", "/t/c/")
_UNSUBSCRIBE_LATENCY = TRACKING_LATENCY["unsubscribe"]

PageHandler = Callable[["TrackingContext", str, Scope, Receive, Send], Awaitable[None]]


@dataclass
class TrackingContext:
    """What the endpoints share in one process."""

    settings: Settings
    signer: TokenSigner
    batcher: EventBatcher
    links: LinkTables
    machines: MachineRules
    sessionmaker: async_sessionmaker[AsyncSession] | None = None
    # Peers whose X-Forwarded-For names the client (a load balancer in front).
    trusted_proxies: Container[str] = frozenset()

    def event(
        self, kind: EventKind, delivery: uuid.UUID, scope: Scope, **fields: Any
    ) -> TrackingEvent:
        """The event of this request: when, who asked (user agent, address) and
        whether that is a machine."""
        user_agent = header(scope, b"user-agent")
        ip = client_ip(scope, self.trusted_proxies)
        return TrackingEvent(
            kind=kind,
            delivery_id=delivery,
            at_ms=time.time_ns() // 1_000_000,
            user_agent=user_agent,
            ip=ip,
            machine=self.machines.classify(kind, user_agent, ip),
            **fields,
        )

    async def record(self, event: TrackingEvent) -> bool:
        """Store the event; False (and counted) when Redis did not take it."""
        return await self._append(encode_event(event), event.kind)

    async def store(
        self,
        kind: EventKind,
        delivery: bytes,
        user_agent: str,
        ip: str,
        link: tuple[int, bytes] | None = None,
    ) -> bool:
        """`record` for the open and click path: the same stream entry as
        `encode_event(self.event(...))`, packed straight into the script's arguments
        without the event object or a dict. `delivery` is the delivery id's 16 bytes;
        `user_agent` and `ip` are the request's (`client_ip`); a click's `link` is its
        index and its link table's id (16 bytes), so the consumer counts the URL the
        message carried. The event is offered to the batcher (`EventBatcher.offer`):
        True at once when it took it; otherwise this waits for Redis, as `record` does."""
        at = b"%d" % (time.time_ns() // 1_000_000)
        parts = [
            _KIND_FIELDS[kind],
            hexlify(delivery),
            b"\r\n$1\r\nt\r\n$%d\r\n%b\r\n" % (len(at), at),
        ]
        pairs = 3
        if link is not None:
            index = b"%d" % link[0]
            parts.append(
                b"$1\r\nl\r\n$%d\r\n%b\r\n$2\r\nlt\r\n$32\r\n%b\r\n"
                % (len(index), index, hexlify(link[1]))
            )
            pairs += 2
        if user_agent:
            raw = user_agent[:MAX_USER_AGENT].encode()
            parts.append(b"$2\r\nua\r\n$%d\r\n%b\r\n" % (len(raw), raw))
            pairs += 1
        if ip:
            raw = ip.encode()
            parts.append(b"$2\r\nip\r\n$%d\r\n%b\r\n" % (len(raw), raw))
            pairs += 1
        machine = self.machines.classify(kind, user_agent, ip)
        if machine is not None:
            parts.append(_MACHINE_FIELDS[machine])
            pairs += 1
        entry = ENTRY_HEADS[pairs] + b"".join(parts)
        value = _VALUES[kind]
        if self.batcher.offer(entry, 1 + 2 * pairs, value):
            return True  # counted once Redis has it, or lost after the retries
        try:
            await self.batcher.append_packed(entry, 1 + 2 * pairs)
        except EventNotStored as exc:
            return self._lost(kind, exc)
        TRACKING_EVENTS.add(value)
        return True

    async def _append(self, fields: dict[str, str], kind: EventKind) -> bool:
        try:
            await self.batcher.append(fields)
        except EventNotStored as exc:
            return self._lost(kind, exc)
        TRACKING_EVENTS.add(_VALUES[kind])
        return True

    @staticmethod
    def _lost(kind: EventKind, error: EventNotStored) -> bool:
        _LOST[kind].inc()
        _log.warning("tracking event not stored", kind=kind.value, error=str(error))
        return False


class TrackingApp:
    """The ASGI app. `context` is the shared state, or a callable that builds it on
    the first request (inside the API, where the state appears at startup). Paths it
    doesn't own go to `fallback` (the API), or get 404."""

    def __init__(
        self,
        context: TrackingContext | Callable[[], TrackingContext],
        *,
        fallback: ASGIApp | None = None,
        pages: dict[str, PageHandler] | None = None,
        bare_endpoint: bool = False,
    ) -> None:
        self._context = context if isinstance(context, TrackingContext) else None
        self._factory = None if isinstance(context, TrackingContext) else context
        self.fallback = fallback
        self.pages = pages if pages is not None else default_pages()
        self.bare_endpoint = bare_endpoint
        # Link table id -> (the table, its links' 302 answers): see `_redirects`.
        self._redirect_cache: dict[bytes, tuple[tuple[str, ...], tuple[Answer, ...]]] = {}

    @property
    def context(self) -> TrackingContext:
        if self._context is None:
            assert self._factory is not None
            self._context = self._factory()
        return self._context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if self.fallback is not None:
                await self.fallback(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(_EVENT_PATHS):
            started = time.perf_counter()
            opened = path[3] == "o"
            answer = await (self.open if opened else self.click)(
                path[5:],
                scope["method"],
                header(scope, b"user-agent"),
                client_ip(scope, self.context.trusted_proxies),
            )
            await send(answer.start)
            await send(answer.body)
            (_OPEN_LATENCY if opened else _CLICK_LATENCY).observe(time.perf_counter() - started)
        elif path.startswith("/u/"):
            started = time.perf_counter()
            await self.unsubscribe(path[3:], scope, receive, send)
            _UNSUBSCRIBE_LATENCY.observe(time.perf_counter() - started)
        elif path.startswith(("/p/", "/v/")):
            handler = self.pages.get(path[:3])
            if handler is None:
                await self._not_found(send, "page")
            else:
                await handler(self.context, path[3:], scope, receive, send)
        elif path == "/t/bare" and self.bare_endpoint:
            await send(_PIXEL.start)
            await send(_PIXEL.body)
        elif self.fallback is not None:
            await self.fallback(scope, receive, send)
        else:
            await self._not_found(send, "other")

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        """The same endpoints under granian's RSGI interface (`maily tracking`): the
        open pixel and the click redirect answer with one call; every other path goes
        through the ASGI app above."""
        path: str = scope.path
        if path.startswith(_EVENT_PATHS):
            started = time.perf_counter()
            opened = path[3] == "o"
            answer = await (self.open if opened else self.click)(
                path[5:],
                scope.method,
                scope.headers.get("user-agent", ""),
                rsgi_client_ip(scope, self.context.trusted_proxies),
            )
            protocol.response_bytes(answer.status, answer.headers, answer.content)
            (_OPEN_LATENCY if opened else _CLICK_LATENCY).observe(time.perf_counter() - started)
        elif path == "/t/bare" and self.bare_endpoint:
            protocol.response_bytes(_PIXEL.status, _PIXEL.headers, _PIXEL.content)
        else:
            await serve_asgi(self, scope, protocol)

    async def _not_found(self, send: Send, endpoint: str) -> None:
        answer = _refused(endpoint)
        await send(answer.start)
        await send(answer.body)

    async def open(self, token: str, method: str, user_agent: str, ip: str) -> Answer:
        """The open pixel's answer to `token`, its open stored first (GET only: a
        HEAD asks about the pixel; it is no open)."""
        context = self.context
        payload = context.signer.verify_payload(token.removesuffix(".gif"))
        if (
            payload is None
            or payload[0] != _OPEN
            or len(payload) != OPEN_PAYLOAD
            or method not in ("GET", "HEAD")
        ):
            return _refused("open")
        if method == "GET":
            await context.store(EventKind.open, payload[1:17], user_agent, ip)
        return _PIXEL

    async def click(self, token: str, method: str, user_agent: str, ip: str) -> Answer:
        """The redirect to the link `token` names, its click stored first (GET only)."""
        context = self.context
        payload = context.signer.verify_payload(token)
        if (
            payload is None
            or payload[0] != _CLICK
            or len(payload) != CLICK_PAYLOAD
            or method not in ("GET", "HEAD")
        ):
            return _refused("click")
        index = int.from_bytes(payload[33:35], "big")
        raw_table = payload[17:33]
        table = context.links.table_of(raw_table)
        if table is None:
            try:
                table = await context.links.get(uuid.UUID(bytes=raw_table))
            except Exception:
                # Neither Redis nor PostgreSQL answered: nothing to redirect to.
                _log.exception("link table lookup failed")
                _LOST[EventKind.click].inc()
                return _UNAVAILABLE
        redirects = self._redirects(raw_table, table) if table is not None else ()
        if index >= len(redirects):
            return _refused("click")
        if method == "GET":
            await context.store(EventKind.click, payload[1:17], user_agent, ip, (index, raw_table))
        return redirects[index]

    def _redirects(self, raw_table: bytes, table: tuple[str, ...]) -> tuple[Answer, ...]:
        """The 302 answers to a link table's links, made once per table: the table is
        immutable (its id is a hash of its links), so is each answer. Kept while the
        link cache holds that very table, so a table dropped from it is read again."""
        known = self._redirect_cache.get(raw_table)
        if known is not None and known[0] is table:
            return known[1]
        redirects = tuple(_redirect(url) for url in table)
        if len(self._redirect_cache) >= self.context.links.capacity:
            self._redirect_cache.clear()
        self._redirect_cache[raw_table] = (table, redirects)
        return redirects

    async def unsubscribe(self, token: str, scope: Scope, receive: Receive, send: Send) -> None:
        payload = self.context.signer.verify(token)
        method = scope["method"]
        if payload is None or payload.kind is not TokenKind.unsubscribe:
            await self._not_found(send, "unsubscribe")
            return
        if method in ("GET", "HEAD"):
            # Changes nothing: link scanners fetch every URL in a message.
            await send_html(
                send,
                200,
                page(
                    "Unsubscribe",
                    "<h1>Unsubscribe?</h1><p>You will no longer receive these emails.</p>"
                    '<form method="post"><input type="hidden" name="confirm" value="1">'
                    "<button type=submit>Unsubscribe</button></form>",
                ),
            )
            return
        if method != "POST":
            await send_text(send, 405, "method not allowed\n", [(b"allow", b"GET, HEAD, POST")])
            return
        form = await read_form(receive)
        if form is None:
            await send_text(send, 413, "the request body is too large for an unsubscribe\n")
            return
        # RFC 8058: the mailbox provider posts "List-Unsubscribe=One-Click"; the
        # confirmation page's button posts the form above.
        one_click = form.get("List-Unsubscribe", [""])[0] == "One-Click"
        channel = UnsubscribeChannel.one_click if one_click else UnsubscribeChannel.link
        event = self.context.event(
            EventKind.unsubscribe, payload.delivery_id, scope, channel=channel
        )
        if not await self.context.record(event):
            await send_text(
                send,
                503,
                "your unsubscribe could not be recorded right now; please try again in a minute\n",
                [(b"retry-after", b"60")],
            )
            return
        await send_html(
            send,
            200,
            page(
                "Unsubscribed",
                "<h1>You are unsubscribed</h1><p>You will get no more of these emails.</p>",
            ),
        )


def _refused(endpoint: str) -> Answer:
    """404 to a token or path that does not verify, counted by endpoint."""
    TRACKING_REFUSED.labels(endpoint=endpoint).inc()
    return _NOT_FOUND


def _redirect(url: str) -> Answer:
    return Answer(
        302,
        [
            (b"location", location(url)),
            (b"content-length", b"0"),
            (b"cache-control", b"no-store"),
            (b"referrer-policy", b"no-referrer"),
        ],
        b"",
    )


def default_pages() -> dict[str, PageHandler]:
    from maily.tracking.pages import preferences_page, view_online_page

    return {"/p/": preferences_page, "/v/": view_online_page}
