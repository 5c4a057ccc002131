"""All SQL of the delivery ledger: materialising it, leasing batches, recording results.

Leasing is the senders' hot path and works across workspaces on purpose: a sender
serves every tenant. Everything a request does (progress, cancelling) is scoped to
one workspace."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Interval,
    String,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    not_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import aliased
from sqlalchemy.sql import column, table

from maily.contacts.addresses import value_hash
from maily.contacts.audience import sendable
from maily.delivery.composer import ContactRow, DeliveryRow
from maily.delivery.ledger import LEASABLE, PENDING, DeliveryStatus, RowResult
from maily.kit.db import AsyncSession
from maily.kit.db.base import new_uuid
from maily.models import Campaign, Contact, Delivery, Event, ListMembership, SuppressionEntry

# The server's list of zone names, to tell a contact's valid timezone from a typo
# (AT TIME ZONE would fail the whole statement on a bad name).
_ZONES = table("pg_timezone_names", column("name", String), schema="pg_catalog").alias("zone")
_INFINITY = literal_column("'infinity'::timestamptz", DateTime(timezone=True))

SKIPPED_DETAIL = "the contact can no longer be mailed (unsubscribed, suppressed or bounced)"
CANCELLED_DETAIL = "the campaign was cancelled"


@dataclass(frozen=True, slots=True)
class LeasedRow:
    delivery: DeliveryRow
    contact: ContactRow
    first_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class Lease:
    rows: list[LeasedRow]
    # (workspace_id, campaign_id) of each row found unsendable and skipped.
    skipped: list[tuple[uuid.UUID, uuid.UUID]]
    # How many of `rows` were taken back from a lease that expired (a dead sender's).
    taken_back: int = 0


@dataclass(frozen=True, slots=True)
class Recorded:
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    status: str
    contact_id: uuid.UUID


def _wave(campaign: Campaign) -> ColumnElement[datetime]:
    """When a contact's message is due: the campaign's wall-clock time in the contact's
    zone (or the campaign's zone) for local-time sends, otherwise now. Needs _ZONES
    joined on the contact's timezone."""
    if campaign.send_mode != "local_time" or campaign.local_send_at is None:
        return func.now()
    zone = func.coalesce(_ZONES.c.name, literal(campaign.timezone, String))
    return func.timezone(zone, literal(campaign.local_send_at, DateTime(timezone=False)))


def _with_zones(query: Any, campaign: Campaign) -> Any:
    if campaign.send_mode != "local_time":
        return query
    return query.outerjoin(_ZONES, _ZONES.c.name == Contact.timezone)


# Send times planned per contact (send-time optimisation), as parallel arrays.
Planned = Mapping[uuid.UUID, datetime]


def _with_plan(
    query: Any, wave: ColumnElement[datetime], planned: Planned | None
) -> tuple[Any, ColumnElement[datetime]]:
    """Join the planned times to the contacts; a contact without one keeps `wave`."""
    if planned is None:
        return query, wave
    plan = (
        func.unnest(
            bindparam("plan_contact_ids", list(planned), type_=ARRAY(Uuid())),
            bindparam("plan_times", list(planned.values()), type_=ARRAY(DateTime(timezone=True))),
        )
        .table_valued(column("contact_id", Uuid()), column("at", DateTime(timezone=True)))
        .render_derived("plan")
    )
    joined = query.outerjoin(plan, plan.c.contact_id == Contact.id)
    return joined, func.coalesce(plan.c.at, wave)


# A contact's last send and send count, for the "received" segment rule and the
# contact's page (DeliveryRepository.touch_contacts). The rows are locked in key order
# (as the analytics consumer locks them), so two batches touching the same contacts
# wait rather than deadlock.
_TOUCH_SQL = """
        WITH sent AS (
            SELECT workspace_id, contact_id, count(*) AS sends
              FROM unnest(CAST(:workspace_ids AS uuid[]), CAST(:contact_ids AS uuid[]))
                   AS u(workspace_id, contact_id)
             GROUP BY 1, 2
        ), locked AS (
            SELECT c.workspace_id, c.id, s.sends
              FROM contacts AS c
              JOIN sent AS s ON c.workspace_id = s.workspace_id AND c.id = s.contact_id
             ORDER BY c.workspace_id, c.id
               FOR NO KEY UPDATE OF c{skip}
        )
        UPDATE contacts AS c
           SET last_sent_at = greatest(c.last_sent_at, now()),
               sends_count = c.sends_count + l.sends
          FROM locked AS l
         WHERE c.workspace_id = l.workspace_id AND c.id = l.id
        """


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- making the ledger ------------------------------------------------------------

    async def materialise(
        self, campaign: Campaign, audience: ColumnElement[bool], planned: Planned | None = None
    ) -> int:
        """One INSERT … SELECT from the audience query, ON CONFLICT DO NOTHING, so a
        second run adds nobody twice. Contacts are rows unique per address, so an
        address on several lists gets one row. With an A/B test the audience is
        ordered by a hash of (campaign, contact) — random-looking, but the same on
        every run — the first test_percent of it split round-robin between the
        variants, and the rest held back (send_after = infinity) for the winner.
        `planned`: a send time per contact (send-time optimisation) that replaces the
        campaign's wave as the row's send_after."""
        base, wave = _with_plan(
            _with_zones(select().select_from(Contact), campaign), _wave(campaign), planned
        )
        source = base.add_columns(
            Contact.id.label("contact_id"), Contact.email.label("email"), wave.label("wave")
        ).where(audience)
        ab = campaign.ab_test
        if ab:
            order = func.md5(literal(str(campaign.id), String) + cast(Contact.id, String))
            ranked = source.add_columns(
                func.row_number().over(order_by=order).label("rn"),
                func.count().over().label("n"),
            ).subquery("audience")
            k = len(ab["variants"])
            in_test = ranked.c.rn <= func.ceil(ranked.c.n * ab["test_percent"] / 100.0)
            variant: ColumnElement[Any] = case(
                (in_test, func.chr(cast(65 + (ranked.c.rn - 1) % k, Integer))), else_=None
            )
            send_after: ColumnElement[Any] = case((in_test, ranked.c.wave), else_=_INFINITY)
        else:
            ranked = source.subquery("audience")
            variant = literal(None, String)
            send_after = ranked.c.wave
        rows = select(
            literal(campaign.workspace_id, Uuid()),
            func.maily_uuid7(),
            literal(campaign.id, Uuid()),
            ranked.c.contact_id,
            variant,
            ranked.c.email,
            send_after,
        )
        statement = (
            insert(Delivery)
            .from_select(
                [
                    "workspace_id",
                    "id",
                    "campaign_id",
                    "contact_id",
                    "variant",
                    "email",
                    "send_after",
                ],
                rows,
            )
            .on_conflict_do_nothing(index_elements=["workspace_id", "campaign_id", "contact_id"])
        )
        await self._plan_for_todays_tables()
        result = await self.session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def _plan_for_todays_tables(self) -> None:
        """Plan the audience statements that follow in this transaction for the tables
        as they are now. A pooled connection keeps its prepared statements, and after a
        few runs PostgreSQL may keep a generic plan made when the workspace had a handful
        of contacts; until an ANALYZE invalidates it (a minute or more after an import,
        never where autovacuum is off), that plan probes every membership of the list
        for every contact: minutes for 50,000 recipients instead of a second. A custom
        plan sees the tables' current size, and these statements run once per campaign."""
        await self.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    async def last_test_send_after(self, campaign: Campaign) -> datetime | None:
        """When the last A/B test message is due (the waves end)."""
        query = select(func.max(Delivery.send_after)).where(
            Delivery.workspace_id == campaign.workspace_id,
            Delivery.campaign_id == campaign.id,
            Delivery.variant.is_not(None),
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    def held_back(self, campaign: Campaign) -> ColumnElement[bool]:
        """Contacts whose row of `campaign` is held back for the A/B winner."""
        return Contact.id.in_(
            select(Delivery.contact_id).where(
                Delivery.workspace_id == campaign.workspace_id,
                Delivery.campaign_id == campaign.id,
                Delivery.variant.is_(None),
                Delivery.status == DeliveryStatus.queued,
            )
        )

    async def release_holdback(self, campaign: Campaign, planned: Planned | None = None) -> int:
        """Make the held-back rest of an A/B audience due (in its timezone waves, or at
        each contact's `planned` time). Their variant stays NULL — they are not part of
        the test — and is sent with the campaign's winner."""
        base, wave = _with_plan(
            _with_zones(select().select_from(Contact), campaign), _wave(campaign), planned
        )
        waves = (
            base.add_columns(Contact.id.label("contact_id"), wave.label("wave"))
            .where(Contact.workspace_id == campaign.workspace_id)
            .subquery("waves")
        )
        statement = (
            update(Delivery)
            .where(
                Delivery.workspace_id == campaign.workspace_id,
                Delivery.campaign_id == campaign.id,
                Delivery.variant.is_(None),
                Delivery.status == DeliveryStatus.queued,
                Delivery.contact_id == waves.c.contact_id,
            )
            .values(send_after=waves.c.wave, updated_at=func.now())
        )
        await self._plan_for_todays_tables()
        result = await self.session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def skip_pending(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> int:
        """A cancelled campaign's rows that were not leased yet are settled as skipped;
        leased ones finish their send and are recorded as usual."""
        statement = (
            update(Delivery)
            .where(
                Delivery.workspace_id == workspace_id,
                Delivery.campaign_id == campaign_id,
                Delivery.status.in_(LEASABLE),
            )
            .values(
                status=DeliveryStatus.skipped, last_detail=CANCELLED_DETAIL, updated_at=func.now()
            )
        )
        result = await self.session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]

    # -- leasing ----------------------------------------------------------------------

    async def lease(
        self,
        owner: str,
        limit: int,
        lease_seconds: float,
        held: Collection[uuid.UUID] = (),
    ) -> Lease:
        """Lease up to `limit` due rows of campaigns that are sending, plus up to
        `limit` rows whose lease expired (their sender died), in one statement.
        `held`: ids of rows `owner` is still working on; even expired, they are not
        taken back (the sender asking is alive, so they would only be sent twice).

        SKIP LOCKED lets any number of senders lease side by side without waiting for
        or double-leasing each other's rows. A paused or cancelled campaign's rows
        are simply not chosen, so pausing takes effect with the next batch. In the
        same statement each row's contact is checked again: one who unsubscribed,
        bounced or got suppressed since the ledger was made is settled as skipped."""
        params = {
            "owner": owner,
            "batch": limit,
            "lease_for": timedelta(seconds=lease_seconds),
            "held": list(held),
        }
        # Core, not ORM, execution: the statement returns plain rows, and nothing
        # here needs the session's identity map.
        connection = await self.session.connection()
        rows: list[LeasedRow] = []
        skipped: list[tuple[uuid.UUID, uuid.UUID]] = []
        taken_back = 0
        for r in await connection.execute(_lease_statement(), params):
            if r.status != DeliveryStatus.leased:
                skipped.append((r.workspace_id, r.campaign_id))
                continue
            taken_back += r.taken_back
            rows.append(
                LeasedRow(
                    delivery=DeliveryRow(
                        id=r.id,
                        workspace_id=r.workspace_id,
                        campaign_id=r.campaign_id,
                        contact_id=r.contact_id,
                        email=r.email,
                        variant=r.variant,
                        attempts=r.attempts,
                    ),
                    contact=ContactRow(
                        id=r.contact_id,
                        email=r.email,
                        first_name=r.first_name,
                        last_name=r.last_name,
                        timezone=r.timezone,
                        locale=r.locale,
                        fields=r.fields,
                        tags=tuple(r.tags),
                    ),
                    first_attempt_at=r.first_attempt_at,
                )
            )
        rows.sort(key=lambda row: (row.delivery.campaign_id, row.delivery.id or uuid.UUID(int=0)))
        return Lease(rows, skipped, taken_back)

    async def _update_held(
        self, owner: str, keys: Sequence[tuple[uuid.UUID, uuid.UUID]], **values: Any
    ) -> int:
        """Change the rows of `keys` that `owner` still holds on lease; how many."""
        if not keys:
            return 0
        statement = (
            update(Delivery)
            .where(
                tuple_(Delivery.workspace_id, Delivery.id).in_(list(keys)),
                Delivery.status == DeliveryStatus.leased,
                Delivery.lease_owner == owner,
            )
            .values(**values)
        )
        result = await self.session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, owner: str, keys: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> int:
        """Give leased rows back untouched (their attempt does not count)."""
        return await self._update_held(
            owner,
            keys,
            status=DeliveryStatus.queued,
            lease_owner=None,
            lease_expires_at=None,
            attempts=Delivery.attempts - 1,
            updated_at=func.now(),
        )

    async def extend(
        self, owner: str, keys: Sequence[tuple[uuid.UUID, uuid.UUID]], lease_seconds: float
    ) -> int:
        """Push out the lease of rows `owner` still holds: a batch that is still being
        worked on (a slow relay, a paced transport) is not taken for a dead sender's."""
        return await self._update_held(
            owner, keys, lease_expires_at=func.now() + timedelta(seconds=lease_seconds)
        )

    # -- recording --------------------------------------------------------------------

    # One UPDATE for a whole batch: the results travel as parallel arrays. Only rows
    # this sender still holds are written, so a sender whose lease expired (and whose
    # rows went to another) cannot overwrite the newer outcome.
    _RECORD = text(
        """
        UPDATE deliveries AS d
        SET status = r.status,
            send_after = coalesce(r.send_after, d.send_after),
            last_code = r.code,
            last_detail = r.detail,
            provider_message_id = coalesce(r.provider_message_id, d.provider_message_id),
            sent_at = CASE WHEN r.sent THEN now() ELSE d.sent_at END,
            lease_owner = NULL,
            lease_expires_at = NULL,
            updated_at = now()
        FROM unnest(
            CAST(:workspace_ids AS uuid[]),
            CAST(:ids AS uuid[]),
            CAST(:statuses AS text[]),
            CAST(:send_afters AS timestamptz[]),
            CAST(:codes AS integer[]),
            CAST(:details AS text[]),
            CAST(:provider_ids AS text[]),
            CAST(:sent AS boolean[])
        ) AS r(workspace_id, id, status, send_after, code, detail, provider_message_id, sent)
        WHERE d.workspace_id = r.workspace_id
          AND d.id = r.id
          AND d.status = 'leased'
          AND d.lease_owner = :owner
        RETURNING d.workspace_id, d.campaign_id, d.contact_id, d.email, d.status
        """
    )

    async def record(self, owner: str, results: Sequence[RowResult]) -> list[Recorded]:
        """Write a batch's outcomes; bounced rows then suppress their address and mark
        their contact bounced, in the same transaction."""
        if not results:
            return []
        params = {
            "owner": owner,
            "workspace_ids": [r.workspace_id for r in results],
            "ids": [r.id for r in results],
            "statuses": [r.status.value for r in results],
            "send_afters": [r.send_after for r in results],
            "codes": [r.code for r in results],
            "details": [r.detail for r in results],
            "provider_ids": [r.provider_message_id for r in results],
            "sent": [r.sent for r in results],
        }
        written = (await self.session.execute(self._RECORD, params)).all()
        await self._count_sent(results)
        bounced = [
            (row.workspace_id, row.contact_id, row.email)
            for row in written
            if row.status == DeliveryStatus.bounced
        ]
        if bounced:
            await self._suppress_bounced(bounced)
        return [
            Recorded(row.workspace_id, row.campaign_id, row.status, row.contact_id)
            for row in written
        ]

    _TOUCH_CONTACTS = text(_TOUCH_SQL.format(skip=""))
    _TOUCH_UNLOCKED_CONTACTS = text(_TOUCH_SQL.format(skip=" SKIP LOCKED"))

    async def touch_contacts(
        self, sent: Sequence[tuple[uuid.UUID, uuid.UUID]], *, skip_locked: bool = False
    ) -> None:
        """Record a send on each (workspace id, contact id): last_sent_at and
        sends_count. Its own transaction, after the outcomes are committed: a failure
        here must never undo a recorded send (that would send the message again).
        It waits at most a second for rows another transaction holds (a bulk action
        over many contacts, say), so such a transaction never stalls sending; with
        `skip_locked` (the retry after such a wait) it leaves those rows out."""
        if sent:
            await self.session.execute(text("SET LOCAL lock_timeout = '1s'"))
            await self.session.execute(
                self._TOUCH_UNLOCKED_CONTACTS if skip_locked else self._TOUCH_CONTACTS,
                {
                    "workspace_ids": [workspace_id for workspace_id, _ in sent],
                    "contact_ids": [contact_id for _, contact_id in sent],
                },
            )

    # The rollups' `sent` counters (per campaign, hour and variant; per domain), in the
    # result write's own transaction so a count exists exactly when its send is recorded.
    # The rows this transaction marked sent are the batch's sent rows whose sent_at is
    # this transaction's now(): _RECORD wrote it only to rows it still held.
    _COUNT_SENT = text(
        """
        WITH sent AS (
            SELECT d.workspace_id, d.campaign_id,
                   date_trunc('hour', d.sent_at, 'UTC') AS hour,
                   coalesce(d.variant, '') AS variant,
                   lower(split_part(d.email, '@', 2)) AS domain
              FROM deliveries AS d
              JOIN unnest(CAST(:workspace_ids AS uuid[]), CAST(:ids AS uuid[]))
                   AS r(workspace_id, id)
                ON d.workspace_id = r.workspace_id AND d.id = r.id
             WHERE d.status = 'sent' AND d.sent_at = now()
        ), by_hour AS (
            INSERT INTO campaign_stats (workspace_id, campaign_id, hour, variant, sent)
            SELECT workspace_id, campaign_id, hour, variant, count(*) FROM sent
             GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (workspace_id, campaign_id, hour, variant)
            DO UPDATE SET sent = campaign_stats.sent + excluded.sent
        )
        INSERT INTO campaign_domain_stats (workspace_id, campaign_id, domain, sent)
        SELECT workspace_id, campaign_id, domain, count(*) FROM sent
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (workspace_id, campaign_id, domain)
        DO UPDATE SET sent = campaign_domain_stats.sent + excluded.sent
        """
    )

    async def _count_sent(self, results: Sequence[RowResult]) -> None:
        sent = [r for r in results if r.sent]
        if sent:
            await self.session.execute(
                self._COUNT_SENT,
                {"workspace_ids": [r.workspace_id for r in sent], "ids": [r.id for r in sent]},
            )

    async def _suppress_bounced(self, bounced: Sequence[tuple[uuid.UUID, uuid.UUID, str]]) -> None:
        """A hard bounce suppresses the address (reason hard_bounce) and marks the
        contact bounced; a complaint's 'complained' says more and stays."""
        entries = [
            {
                "workspace_id": workspace_id,
                "id": new_uuid(),
                "kind": "address",
                "value": email,
                "value_hash": value_hash(email),
                "reason": "hard_bounce",
            }
            for workspace_id, _, email in bounced
        ]
        await self.session.execute(
            insert(SuppressionEntry)
            .values(entries)
            .on_conflict_do_nothing(index_elements=["workspace_id", "kind", "value_hash"])
        )
        await self.session.execute(
            update(Contact)
            .where(
                tuple_(Contact.workspace_id, Contact.id).in_([(w, c) for w, c, _ in bounced]),
                Contact.status.not_in(("bounced", "complained")),
            )
            .values(status="bounced", updated_at=func.now())
        )

    # -- reading ----------------------------------------------------------------------

    async def counts(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> dict[str, int]:
        query = (
            select(Delivery.status, func.count())
            .where(Delivery.workspace_id == workspace_id, Delivery.campaign_id == campaign_id)
            .group_by(Delivery.status)
        )
        found = {status: int(n) for status, n in await self.session.execute(query)}
        return {status.value: found.get(status.value, 0) for status in DeliveryStatus}

    async def variant_engagement(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, event_type: str
    ) -> dict[str, tuple[int, int]]:
        """Per test variant: messages sent, and how many of their contacts have a
        human `event_type` event ('open', 'click') of this campaign. Opens by privacy
        proxies and clicks by link scanners are left out: they say nothing about which
        subject or content people preferred."""
        engaged = (
            exists()
            .where(
                Event.workspace_id == Delivery.workspace_id,
                Event.campaign_id == Delivery.campaign_id,
                Event.contact_id == Delivery.contact_id,
                Event.type == event_type,
                Event.machine.is_(None),
            )
            .correlate(Delivery)
        )
        was_sent = Delivery.status == DeliveryStatus.sent
        query = (
            select(
                Delivery.variant,
                func.count().filter(was_sent),
                func.count().filter(and_(was_sent, engaged)),
            )
            .where(
                Delivery.workspace_id == workspace_id,
                Delivery.campaign_id == campaign_id,
                Delivery.variant.is_not(None),
            )
            .group_by(Delivery.variant)
        )
        return {
            str(variant): (int(sent), int(hits))
            for variant, sent, hits in await self.session.execute(query)
        }

    async def has_pending(self, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> bool:
        query = select(
            exists().where(
                Delivery.workspace_id == workspace_id,
                Delivery.campaign_id == campaign_id,
                Delivery.status.in_([s.value for s in PENDING]),
            )
        )
        return bool((await self.session.execute(query)).scalar())


@functools.cache
def _lease_statement() -> Any:
    """The lease (see `DeliveryRepository.lease`) as one statement, built once per
    process with bind parameters `owner`, `batch`, `lease_for` and `held`: building
    and caching a statement of this size is most of a batch's lease otherwise."""
    owner = bindparam("owner", type_=String())
    batch = bindparam("batch", type_=Integer())
    now = func.now()
    campaign_sending = (
        exists()
        .where(
            Campaign.workspace_id == Delivery.workspace_id,
            Campaign.id == Delivery.campaign_id,
            Campaign.status == "sending",
        )
        .correlate(Delivery)
    )
    due = (
        select(Delivery.workspace_id, Delivery.id)
        .where(Delivery.status.in_(LEASABLE), Delivery.send_after <= now, campaign_sending)
        .order_by(Delivery.send_after, Delivery.id)
        .limit(batch)
        .with_for_update(skip_locked=True, of=Delivery)
        .cte("due")
    )
    expired = (
        select(Delivery.workspace_id, Delivery.id)
        .where(
            Delivery.status == DeliveryStatus.leased,
            Delivery.lease_expires_at < now,
            not_(
                and_(
                    Delivery.lease_owner == owner,
                    Delivery.id == any_(bindparam("held", type_=ARRAY(Uuid()))),
                )
            ),
            campaign_sending,
        )
        .order_by(Delivery.lease_expires_at)
        .limit(batch)
        .with_for_update(skip_locked=True, of=Delivery)
        .cte("expired")
    )
    chosen = union_all(
        select(due.c.workspace_id, due.c.id, literal(False).label("taken_back")),
        select(expired.c.workspace_id, expired.c.id, literal(True).label("taken_back")),
    ).cte("chosen")
    # Each chosen row's contact, checked once: still mailable at all, and not gone
    # from the very lists this campaign goes to (say by its own unsubscribe link)
    # unless still subscribed to another of them.
    row = aliased(Delivery, name="picked")
    on_campaign_lists = [
        ListMembership.workspace_id == row.workspace_id,
        ListMembership.contact_id == row.contact_id,
        ListMembership.list_id == any_(Campaign.list_ids),
    ]
    left_campaign_lists = and_(
        exists().where(*on_campaign_lists, ListMembership.status == "unsubscribed"),
        not_(exists().where(*on_campaign_lists, ListMembership.status == "subscribed")),
    )
    checked = (
        select(
            row.workspace_id,
            row.id,
            and_(sendable(None), not_(left_campaign_lists)).label("mailable"),
            chosen.c.taken_back,
            Contact.first_name,
            Contact.last_name,
            Contact.timezone,
            Contact.locale,
            Contact.fields,
            Contact.tags,
        )
        .select_from(chosen)
        .join(row, and_(row.workspace_id == chosen.c.workspace_id, row.id == chosen.c.id))
        .join(
            Contact,
            and_(Contact.workspace_id == row.workspace_id, Contact.id == row.contact_id),
        )
        .join(
            Campaign,
            and_(Campaign.workspace_id == row.workspace_id, Campaign.id == row.campaign_id),
        )
        .subquery("checked")
    )
    mailable = checked.c.mailable
    statement = (
        update(Delivery)
        .where(Delivery.workspace_id == checked.c.workspace_id, Delivery.id == checked.c.id)
        .values(
            status=case((mailable, DeliveryStatus.leased.value), else_="skipped"),
            lease_owner=case((mailable, owner), else_=None),
            lease_expires_at=case(
                (mailable, now + bindparam("lease_for", type_=Interval())), else_=None
            ),
            attempts=case((mailable, Delivery.attempts + 1), else_=Delivery.attempts),
            first_attempt_at=case(
                (mailable, func.coalesce(Delivery.first_attempt_at, now)),
                else_=Delivery.first_attempt_at,
            ),
            last_detail=case((mailable, Delivery.last_detail), else_=SKIPPED_DETAIL),
            updated_at=now,
        )
        .returning(
            Delivery.workspace_id,
            Delivery.id,
            Delivery.campaign_id,
            Delivery.contact_id,
            Delivery.variant,
            Delivery.email,
            Delivery.attempts,
            Delivery.first_attempt_at,
            Delivery.status,
            checked.c.first_name,
            checked.c.last_name,
            checked.c.timezone,
            checked.c.locale,
            checked.c.fields,
            checked.c.tags,
            checked.c.taken_back,
        )
    )
    return statement
