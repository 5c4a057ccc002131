"""The sender counts what each transport answered: the base of failure and bounce rates."""

from __future__ import annotations

from prometheus_client import REGISTRY

from maily.delivery.transports.base import Outcome, SendResult
from tests.campaigns.support import World


def handed(outcome: str) -> float:
    labels = {"transport": "recording", "outcome": outcome}
    return REGISTRY.get_sample_value("maily_transport_messages_total", labels) or 0.0


async def test_messages_are_counted_by_transport_and_outcome(world: World) -> None:
    await world.add_contacts(["ann", "bob", "cat", "dan"], lists=["news"])
    world.transport.answer(
        "bob@example.com", SendResult(Outcome.bounced, code=550, detail="no such user")
    )
    world.transport.answer(
        "cat@example.com", SendResult(Outcome.deferred, code=421, detail="try later")
    )
    world.transport.answer(
        "dan@example.com", SendResult(Outcome.unknown, detail="connection lost after DATA")
    )
    before = {o: handed(o) for o in ("sent", "bounced", "deferred", "unknown", "failed")}

    await world.campaign()
    await world.sender().run_batch()

    after = {o: handed(o) for o in before}
    assert {o: after[o] - before[o] for o in before} == {
        "sent": 1,
        "bounced": 1,
        "deferred": 1,
        "unknown": 1,
        "failed": 0,
    }
