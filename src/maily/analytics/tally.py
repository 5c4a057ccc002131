"""What a batch of newly stored events adds to the rollups, the ledger's first opens and
clicks, and the contacts' engagement fields. Pure: the repository writes the result.

Only events stored for the first time are tallied (the insert reports which), so an
entry delivered twice adds nothing the second time. Unique counts follow the delivery
row: an open is unique when the delivery had no first open yet, neither stored nor
earlier in the batch; a click is unique for its link when the message had no click on
that link yet. Bounces, complaints and delivery notices count once per message (a
bounce once per type), however many sources report them."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from maily.analytics.stream import EventKind, TrackingEvent

StatsKey = tuple[uuid.UUID, uuid.UUID, datetime, str]  # workspace, campaign, hour, variant
LinkKey = tuple[uuid.UUID, uuid.UUID, str, int]  # workspace, campaign, variant, link index
DomainKey = tuple[uuid.UUID, uuid.UUID, str]  # workspace, campaign, domain
CampaignKey = tuple[uuid.UUID, uuid.UUID]


@dataclass(slots=True)
class DeliveryContext:
    """A delivery as the consumer needs it, read (and row-locked) once per batch."""

    workspace_id: uuid.UUID
    delivery_id: uuid.UUID
    campaign_id: uuid.UUID
    contact_id: uuid.UUID
    variant: str  # '' for none
    domain: str
    sent_at: datetime | None
    template_id: uuid.UUID | None
    first_open_at: datetime | None
    first_human_open_at: datetime | None
    first_click_at: datetime | None
    first_human_click_at: datetime | None


@dataclass(frozen=True, slots=True)
class Prior:
    """What is stored already about an event's message (clicks, bounces, ...)."""

    url: str | None = None
    # A stored click on another link of the message within the scanner burst window.
    burst: bool = False
    # A stored event of the same type (a click: on the same link; a bounce: same type).
    seen: bool = False
    # Clicks: a stored human click on the same link.
    seen_human: bool = False


@dataclass(slots=True)
class Incoming:
    """One stream entry, resolved and classified, ready to store."""

    stream_id: str
    event: TrackingEvent
    at: datetime
    context: DeliveryContext
    machine: str | None = None
    prior: Prior = field(default_factory=Prior)

    @property
    def human(self) -> bool:
        return self.machine is None


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _add(counter: Counter[str], counts: dict[str, int]) -> None:
    """`counter.update(counts)` without its Mapping check, an ABC instance check per
    call: the consumer makes three or four of these for every event."""
    for name, count in counts.items():
        counter[name] += count


@dataclass
class Tally:
    stats: defaultdict[StatsKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    links: defaultdict[LinkKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    link_urls: dict[LinkKey, str] = field(default_factory=dict)
    domains: defaultdict[DomainKey, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    # (workspace, delivery) -> first open, first human open, first click, first human click
    firsts: dict[tuple[uuid.UUID, uuid.UUID], list[datetime | None]] = field(default_factory=dict)
    # (workspace, contact) -> last open, last click, opens, clicks (human engagement)
    contacts: dict[tuple[uuid.UUID, uuid.UUID], list[object]] = field(default_factory=dict)
    touched: set[CampaignKey] = field(default_factory=set)
    # Campaigns that got a bounce or complaint: the deliverability guard looks at them.
    judged: set[CampaignKey] = field(default_factory=set)
    unsubscribes: list[Incoming] = field(default_factory=list)
    stored: Counter[str] = field(default_factory=Counter)

    def _stats(self, item: Incoming, **counts: int) -> None:
        c = item.context
        _add(self.stats[(c.workspace_id, c.campaign_id, hour_of(item.at), c.variant)], counts)
        self.touched.add((c.workspace_id, c.campaign_id))

    def _domain(self, item: Incoming, **counts: int) -> None:
        c = item.context
        if c.domain:
            _add(self.domains[(c.workspace_id, c.campaign_id, c.domain)], counts)

    def _engaged(self, item: Incoming, *, click: bool) -> None:
        c = item.context
        entry = self.contacts.setdefault((c.workspace_id, c.contact_id), [None, None, 0, 0])
        slot = 1 if click else 0
        last = entry[slot]
        if last is None or item.at > last:  # type: ignore[operator]
            entry[slot] = item.at
        entry[slot + 2] = int(entry[slot + 2]) + 1  # type: ignore[call-overload]

    def _firsts(self, c: DeliveryContext) -> list[datetime | None]:
        key = (c.workspace_id, c.delivery_id)
        if key not in self.firsts:
            self.firsts[key] = [None, None, None, None]
        return self.firsts[key]

    def add_open(self, item: Incoming) -> None:
        c = item.context
        firsts = self._firsts(c)
        unique = c.first_open_at is None
        if unique:
            c.first_open_at = firsts[0] = item.at
        unique_human = item.human and c.first_human_open_at is None
        if unique_human:
            c.first_human_open_at = firsts[1] = item.at
        self._stats(
            item,
            opens=1,
            human_opens=int(item.human),
            unique_opens=int(unique),
            unique_human_opens=int(unique_human),
        )
        self._domain(item, opens=1, unique_opens=int(unique))
        if item.human:
            self._engaged(item, click=False)

    def add_click(
        self, item: Incoming, seen_links: set[tuple[uuid.UUID, int | None, bool]]
    ) -> None:
        c = item.context
        firsts = self._firsts(c)
        unique = c.first_click_at is None
        if unique:
            c.first_click_at = firsts[2] = item.at
        unique_human = item.human and c.first_human_click_at is None
        if unique_human:
            c.first_human_click_at = firsts[3] = item.at
        self._stats(
            item,
            clicks=1,
            human_clicks=int(item.human),
            unique_clicks=int(unique),
            unique_human_clicks=int(unique_human),
        )
        self._domain(item, clicks=1, unique_clicks=int(unique))
        link = item.event.link_index
        if link is not None:
            key = (c.workspace_id, c.campaign_id, c.variant, link)
            link_unique = not item.prior.seen and (c.delivery_id, link, False) not in seen_links
            link_unique_human = item.human and (
                not item.prior.seen_human and (c.delivery_id, link, True) not in seen_links
            )
            seen_links.add((c.delivery_id, link, False))
            if item.human:
                seen_links.add((c.delivery_id, link, True))
            _add(
                self.links[key],
                {
                    "clicks": 1,
                    "human_clicks": int(item.human),
                    "unique_clicks": int(link_unique),
                    "unique_human_clicks": int(link_unique_human),
                },
            )
            if item.prior.url is not None:
                self.link_urls.setdefault(key, item.prior.url)
        if item.human:
            self._engaged(item, click=True)

    def add_once(self, item: Incoming, seen: set[tuple[uuid.UUID, str]]) -> None:
        """Bounces, complaints and delivery notices: once per message (and bounce type)."""
        event = item.event
        kind = event.kind
        sort = f"{kind.value}:{event.bounce_type.value if event.bounce_type else ''}"
        key = (item.context.delivery_id, sort)
        if item.prior.seen or key in seen:
            return
        seen.add(key)
        if kind is EventKind.delivered:
            counts = {"delivered": 1}
        elif kind is EventKind.complaint or (
            event.bounce_type is not None and event.bounce_type.value == "complaint"
        ):
            counts = {"complaints": 1}
        elif event.bounce_type is not None and event.bounce_type.value == "soft":
            counts = {"soft_bounces": 1}
        else:
            counts = {"hard_bounces": 1}
        self._stats(item, **counts)
        self._domain(item, **counts)
        if kind is not EventKind.delivered:
            self.judged.add((item.context.workspace_id, item.context.campaign_id))

    def add_unsubscribed(self, item: Incoming) -> None:
        """An unsubscribe that changed the contact's consent."""
        self._stats(item, unsubscribes=1)


def tally(new: list[Incoming]) -> Tally:
    """The effect of newly stored events, taken in time order (then stream order)."""
    result = Tally()
    seen_links: set[tuple[uuid.UUID, int | None, bool]] = set()
    seen_once: set[tuple[uuid.UUID, str]] = set()
    for item in sorted(new, key=lambda i: (i.at, _stream_order(i.stream_id))):
        kind = item.event.kind
        result.stored[kind.value] += 1
        if kind is EventKind.open:
            result.add_open(item)
        elif kind is EventKind.click:
            result.add_click(item, seen_links)
        elif kind is EventKind.unsubscribe:
            result.unsubscribes.append(item)
            result.touched.add((item.context.workspace_id, item.context.campaign_id))
        else:
            result.add_once(item, seen_once)
    return result


def _stream_order(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return (int(ms), int(seq or 0))
