"""The delivery ledger: retry rules, leasing without double leases, expired leases."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from maily.delivery.ledger import DeliveryStatus, RetryPolicy, outcome_to_row
from maily.delivery.transports.base import Outcome, SendResult
from tests.campaigns.support import World

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def row_for(result: SendResult, *, attempts: int = 1, first: datetime = NOW) -> DeliveryStatus:
    return outcome_to_row(
        workspace_id=uuid.uuid4(),
        delivery_id=uuid.uuid4(),
        attempts=attempts,
        first_attempt_at=first,
        result=result,
        now=NOW,
        policy=RetryPolicy(base_seconds=60, cap_seconds=3600, window_seconds=6 * 3600),
        rand=lambda: 1.0,
    ).status


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter() -> None:
    policy = RetryPolicy(base_seconds=60, cap_seconds=1000, window_seconds=10**6)
    highest = [policy.delay(n, rand=lambda: 1.0) for n in range(1, 8)]
    lowest = [policy.delay(n, rand=lambda: 0.0) for n in range(1, 8)]
    assert highest == [60, 120, 240, 480, 960, 1000, 1000]
    assert lowest == [30, 60, 120, 240, 480, 500, 500]
    # A server's own Retry-After is never undercut.
    assert policy.delay(1, retry_after=900, rand=lambda: 1.0) == 900


def test_each_outcome_settles_the_row() -> None:
    assert row_for(SendResult(Outcome.sent, 250)) is DeliveryStatus.sent
    assert row_for(SendResult(Outcome.bounced, 550)) is DeliveryStatus.bounced
    assert row_for(SendResult(Outcome.unknown)) is DeliveryStatus.unknown
    assert row_for(SendResult(Outcome.failed, 552)) is DeliveryStatus.failed
    assert row_for(SendResult(Outcome.deferred, 451)) is DeliveryStatus.deferred


def test_a_deferral_past_the_retry_window_fails() -> None:
    policy = RetryPolicy(base_seconds=60, cap_seconds=3600, window_seconds=6 * 3600)
    inside = NOW - timedelta(hours=5)
    outside = NOW - timedelta(hours=5, minutes=59)
    assert row_for(SendResult(Outcome.deferred, 451), attempts=3, first=inside) is (
        DeliveryStatus.deferred
    )
    result = outcome_to_row(
        workspace_id=uuid.uuid4(),
        delivery_id=uuid.uuid4(),
        attempts=3,
        first_attempt_at=outside,
        result=SendResult(Outcome.deferred, 451, "try later"),
        now=NOW,
        policy=policy,
        rand=lambda: 1.0,
    )
    assert result.status is DeliveryStatus.failed
    assert result.detail.startswith("retry window exhausted after 3 attempts")
    assert result.send_after is None


async def test_two_senders_leasing_at_once_never_share_a_row(world: World) -> None:
    names = [f"c{i:03}" for i in range(240)]
    await world.add_contacts(names, lists=["news"])
    campaign_id = await world.campaign()
    first = world.sender("sender-a", batch_size=40)
    second = world.sender("sender-b", batch_size=40)

    leases = await asyncio.gather(*(s.lease() for _ in range(3) for s in (first, second)))

    ids = [row.delivery.id for lease in leases for row in lease.rows]
    assert len(ids) == 240
    assert len(set(ids)) == 240, "a row was leased twice"
    # Each sender can only settle its own leases; together they settle everything.
    for i, lease in enumerate(leases):
        await (first if i % 2 == 0 else second).deliver(lease)
    rows = await world.rows(campaign_id)
    assert {r.status for r in rows.values()} == {"sent"}
    assert sorted(world.transport.recipients()) == sorted(f"{n}@example.com" for n in names)


def _leases_taken_back() -> float:
    return REGISTRY.get_sample_value("maily_ledger_leases_expired_total") or 0.0


async def test_an_expired_lease_goes_to_another_sender(world: World) -> None:
    await world.add_contacts(["ann", "bob"], lists=["news"])
    campaign_id = await world.campaign()
    crashed = world.sender("crashed")
    survivor = world.sender("survivor")

    lost = await crashed.lease()
    assert len(lost.rows) == 2
    assert lost.taken_back == 0
    assert (await survivor.run_batch()).leased == 0  # held by a live lease
    # Time passes beyond the lease: the crashed sender never came back.
    await world.execute(
        "UPDATE deliveries SET lease_expires_at = now() - interval '1 second' "
        "WHERE workspace_id = :w AND lease_owner = 'crashed'"
    )

    expired_before = _leases_taken_back()
    report = await survivor.run_batch()

    assert report.leased == 2
    assert _leases_taken_back() - expired_before == 2
    rows = await world.rows(campaign_id)
    assert {r.status for r in rows.values()} == {"sent"}
    assert {r.attempts for r in rows.values()} == {2}
    # The crashed sender's late report finds nothing it still holds.
    late = await crashed.deliver(lost)
    assert sum(late.outcomes.values()) == 0
    assert {r.status for r in (await world.rows(campaign_id)).values()} == {"sent"}


@pytest.mark.parametrize("lease_seconds", [300.0])
async def test_leases_are_stamped_with_owner_and_expiry(world: World, lease_seconds: float) -> None:
    await world.add_contacts(["ann"], lists=["news"])
    campaign_id = await world.campaign()
    sender = world.sender("owner-x", lease_seconds=lease_seconds)

    lease = await sender.lease()

    row = (await world.rows(campaign_id))["ann"]
    assert row.status == "leased"
    assert row.lease_owner == "owner-x"
    assert row.lease_expires_at is not None
    assert row.first_attempt_at is not None
    remaining = (row.lease_expires_at - row.first_attempt_at).total_seconds()
    assert remaining == pytest.approx(lease_seconds, abs=1)
    assert lease.rows[0].delivery.attempts == 1
