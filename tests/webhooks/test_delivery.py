"""Delivering webhooks to a local receiver: signatures, retries with backoff, the log,
auto-disable, and the SSRF checks made again at send time."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from maily.config import Settings, WebhookSettings
from maily.kit.db import AsyncSession
from maily.kit.pagination import PageParams
from maily.kit.queue import JobContext
from maily.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from maily.webhooks.client import WebhookClient
from maily.webhooks.delivering import deliver, retry_delay_seconds
from maily.webhooks.service import WebhookService
from maily.webhooks.signing import InvalidSignature, verify_signature
from maily.webhooks.tasks import prune_webhook_log
from tests.webhooks.receiver import Receiver, running_receiver
from tests.webhooks.support import (
    caller,
    new_endpoint,
    new_workspace,
    one_delivery,
    webhook_settings,
    with_webhooks,
)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


def attempt_count(outcome: str) -> float:
    value = REGISTRY.get_sample_value("maily_webhook_attempts_total", {"outcome": outcome})
    return value or 0.0


async def attempts(session: AsyncSession, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    query = (
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
        .order_by(WebhookAttempt.attempt)
    )
    return list((await session.execute(query)).scalars())


async def run(
    session: AsyncSession, hooks: WebhookSettings, workspace_id: uuid.UUID, delivery_id: uuid.UUID
):  # type: ignore[no-untyped-def]
    return await deliver(
        session, hooks, WebhookClient(hooks), workspace_id, delivery_id, rand=lambda: 1.0
    )


async def test_a_delivery_is_signed_so_the_receiver_can_verify_it(
    session: AsyncSession, settings: Settings, receiver: Receiver
) -> None:
    test_settings = with_webhooks(settings)
    workspace_id = await new_workspace(session)
    _, secret = await new_endpoint(
        session, test_settings, workspace_id, f"{receiver.base_url}/hooks/crm"
    )
    delivery_id = await one_delivery(session, workspace_id)

    outcome = await run(session, test_settings.webhooks, workspace_id, delivery_id)

    assert outcome.status == "succeeded"
    [request] = await receiver.wait_for(1)
    assert request.path == "/hooks/crm"
    assert verify_signature(secret, request.headers["maily-signature"], request.body)
    assert request.headers["maily-webhook-id"] == str(delivery_id)
    assert request.headers["maily-event-type"] == "email.opened"
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.body)
    assert body["type"] == "email.opened"
    assert body["workspace_id"] == str(workspace_id)
    assert body["data"]["email"] == "ann1@example.com"
    # A receiver holding another secret, or a changed body, does not verify.
    with pytest.raises(InvalidSignature):
        verify_signature("whsec_other", request.headers["maily-signature"], request.body)
    with pytest.raises(InvalidSignature):
        verify_signature(secret, request.headers["maily-signature"], request.body + b" ")


async def test_failures_are_retried_with_growing_delays_and_every_attempt_is_logged(
    session: AsyncSession, settings: Settings, receiver: Receiver
) -> None:
    test_settings = with_webhooks(settings)
    hooks = test_settings.webhooks
    workspace_id = await new_workspace(session)
    endpoint_id, _ = await new_endpoint(session, test_settings, workspace_id, receiver.base_url)
    delivery_id = await one_delivery(session, workspace_id)
    receiver.answer(500, 503)
    session.jobs.clear()
    before = {outcome: attempt_count(outcome) for outcome in ("succeeded", "failed")}

    first = await run(session, hooks, workspace_id, delivery_id)
    second = await run(session, hooks, workspace_id, delivery_id)
    third = await run(session, hooks, workspace_id, delivery_id)

    assert (first.status, second.status, third.status) == ("pending", "pending", "succeeded")
    # Counted for Prometheus (the failure-rate alert reads these).
    assert attempt_count("failed") == before["failed"] + 2
    assert attempt_count("succeeded") == before["succeeded"] + 1
    # Backoff: the ceiling doubles per attempt (rand=1.0 takes the ceiling itself).
    assert first.retry_in_seconds == hooks.retry_base_seconds
    assert second.retry_in_seconds == 2 * hooks.retry_base_seconds
    retries = session.jobs.pending
    assert [(j.task, j.key, j.delay_seconds) for j in retries] == [
        ("webhooks.deliver", f"webhook-delivery:{delivery_id}:2", 10.0),
        ("webhooks.deliver", f"webhook-delivery:{delivery_id}:3", 20.0),
    ]
    assert len(await receiver.wait_for(3)) == 3

    log = await attempts(session, delivery_id)
    assert [(a.attempt, a.outcome, a.response_status) for a in log] == [
        (1, "failed", 500),
        (2, "failed", 503),
        (3, "succeeded", 200),
    ]
    assert log[0].error == "the endpoint answered HTTP 500"
    assert log[0].response_excerpt == "nope"
    assert log[2].error is None
    assert all(a.duration_ms >= 0 for a in log)
    # The same log through the service the API uses.
    page = await WebhookService(session, test_settings).deliveries(
        caller(workspace_id), endpoint_id, PageParams(limit=10, after=None)
    )
    assert [a.response_status for a in page[0].attempt_log] == [500, 503, 200]
    assert page[0].status == "succeeded"
    assert page[0].attempts == 3
    endpoint = await session.get(WebhookEndpoint, (workspace_id, endpoint_id))
    assert endpoint is not None
    assert endpoint.consecutive_failures == 0
    # A late duplicate run of an attempt finds the delivery settled and sends nothing.
    assert (await run(session, hooks, workspace_id, delivery_id)).attempt is None
    assert len(receiver.requests) == 3


def test_backoff_delays_stay_within_half_and_all_of_a_doubling_ceiling() -> None:
    hooks = WebhookSettings(retry_base_seconds=30, retry_max_seconds=3600)
    for attempt, ceiling in [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (20, 3600)]:
        low = retry_delay_seconds(attempt, hooks, rand=lambda: 0.0)
        high = retry_delay_seconds(attempt, hooks, rand=lambda: 0.999999)
        assert low == ceiling / 2
        assert ceiling / 2 < high <= ceiling


async def test_a_delivery_gives_up_after_its_attempts(
    session: AsyncSession, settings: Settings, receiver: Receiver
) -> None:
    test_settings = with_webhooks(settings, max_attempts=2)
    workspace_id = await new_workspace(session)
    await new_endpoint(session, test_settings, workspace_id, receiver.base_url)
    delivery_id = await one_delivery(session, workspace_id)
    receiver.answer(500, 500, 500)
    session.jobs.clear()

    await run(session, test_settings.webhooks, workspace_id, delivery_id)
    last = await run(session, test_settings.webhooks, workspace_id, delivery_id)

    assert last.status == "failed"
    assert len(session.jobs.pending) == 1  # only the retry after the first attempt
    delivery = await session.get(WebhookDelivery, (workspace_id, delivery_id))
    assert delivery is not None
    assert delivery.status == "failed"
    assert delivery.attempts == 2


async def test_an_endpoint_failing_again_and_again_is_disabled(
    session: AsyncSession, settings: Settings, receiver: Receiver
) -> None:
    test_settings = with_webhooks(settings, disable_after_failures=3, max_attempts=10)
    hooks = test_settings.webhooks
    workspace_id = await new_workspace(session)
    endpoint_id, _ = await new_endpoint(session, test_settings, workspace_id, receiver.base_url)
    first = await one_delivery(session, workspace_id, 1)
    second = await one_delivery(session, workspace_id, 2)
    receiver.answer(500, 502, 504)

    assert (await run(session, hooks, workspace_id, first)).status == "pending"
    assert (await run(session, hooks, workspace_id, second)).status == "pending"
    assert (await run(session, hooks, workspace_id, first)).status == "failed"

    endpoint = await session.get(WebhookEndpoint, (workspace_id, endpoint_id))
    assert endpoint is not None
    await session.refresh(endpoint)
    assert endpoint.enabled is False
    assert endpoint.disabled_reason is not None
    assert "3 failed attempts" in endpoint.disabled_reason
    # The other delivery is cancelled on its next run, without a request.
    assert (await run(session, hooks, workspace_id, second)).status == "cancelled"
    assert len(receiver.requests) == 3


async def test_with_default_settings_loopback_is_refused_at_send_time(
    session: AsyncSession, settings: Settings, receiver: Receiver
) -> None:
    # Saved while the test setting allowed it; sent under the defaults (http allowed
    # only so that the address, not the scheme, is what gets refused).
    workspace_id = await new_workspace(session)
    await new_endpoint(session, with_webhooks(settings), workspace_id, f"{receiver.base_url}/x")
    delivery_id = await one_delivery(session, workspace_id)
    defaults = WebhookSettings(allow_http=True)
    assert defaults.allow_private_addresses is False

    outcome = await run(session, defaults, workspace_id, delivery_id)

    assert outcome.status == "pending"
    [attempt] = await attempts(session, delivery_id)
    assert attempt.outcome == "failed"
    assert attempt.response_status is None
    assert attempt.error is not None
    assert "refused" in attempt.error
    assert "loopback" in attempt.error
    # Fully default settings refuse it as well (plain http).
    await run(session, WebhookSettings(), workspace_id, delivery_id)
    assert "https" in (await attempts(session, delivery_id))[1].error  # type: ignore[operator]
    assert receiver.requests == []


async def test_a_name_rebound_to_loopback_after_saving_is_refused_when_sending(
    session: AsyncSession, settings: Settings, receiver: Receiver
) -> None:
    port = int(receiver.base_url.rsplit(":", 1)[1])
    answers = {"rebind.example.com": ["93.184.215.14"]}

    async def resolver(host: str, _: int) -> list[str]:
        return answers[host]

    strict = with_webhooks(settings, allow_private_addresses=False)
    workspace_id = await new_workspace(session)
    await new_endpoint(
        session, strict, workspace_id, f"http://rebind.example.com:{port}/r", resolver=resolver
    )
    delivery_id = await one_delivery(session, workspace_id)
    answers["rebind.example.com"] = ["127.0.0.1"]  # the attacker's DNS changes its answer

    client = WebhookClient(strict.webhooks, resolver=resolver)
    outcome = await deliver(session, strict.webhooks, client, workspace_id, delivery_id)

    assert outcome.status == "pending"
    [attempt] = await attempts(session, delivery_id)
    assert "rebind.example.com resolves to 127.0.0.1" in (attempt.error or "")
    assert receiver.requests == []


async def test_the_request_goes_to_the_checked_address_with_the_host_name_kept(
    session: AsyncSession, settings: Settings, receiver: Receiver
) -> None:
    port = int(receiver.base_url.rsplit(":", 1)[1])
    lookups: list[str] = []

    async def resolver(host: str, _: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    test_settings = with_webhooks(settings)
    workspace_id = await new_workspace(session)
    await new_endpoint(
        session, test_settings, workspace_id, f"http://hooks.test:{port}/in", resolver=resolver
    )
    delivery_id = await one_delivery(session, workspace_id)
    client = WebhookClient(test_settings.webhooks, resolver=resolver)

    outcome = await deliver(session, test_settings.webhooks, client, workspace_id, delivery_id)

    assert outcome.status == "succeeded"
    [request] = await receiver.wait_for(1)
    assert request.headers["host"] == f"hooks.test:{port}"
    assert lookups == ["hooks.test", "hooks.test"]  # once when saved, once when sent


async def test_redirects_are_failures_and_never_followed(
    session: AsyncSession, settings: Settings, receiver: Receiver
) -> None:
    test_settings = with_webhooks(settings)
    workspace_id = await new_workspace(session)
    await new_endpoint(session, test_settings, workspace_id, receiver.base_url)
    delivery_id = await one_delivery(session, workspace_id)
    receiver.answer(302)

    await run(session, test_settings.webhooks, workspace_id, delivery_id)

    [attempt] = await attempts(session, delivery_id)
    assert attempt.outcome == "failed"
    assert attempt.response_status == 302
    assert "redirect" in (attempt.error or "")
    assert len(receiver.requests) == 1


async def test_an_unreachable_endpoint_is_logged_as_a_connection_error(
    session: AsyncSession, settings: Settings
) -> None:
    test_settings = with_webhooks(settings)
    workspace_id = await new_workspace(session)
    # Port 9 (discard) on loopback: nothing listens there.
    await new_endpoint(session, test_settings, workspace_id, "http://127.0.0.1:9/hook")
    delivery_id = await one_delivery(session, workspace_id)

    await run(session, webhook_settings(), workspace_id, delivery_id)

    [attempt] = await attempts(session, delivery_id)
    assert attempt.outcome == "failed"
    assert attempt.response_status is None
    assert "could not connect" in (attempt.error or "")


async def test_settled_deliveries_leave_the_log_after_the_retention_period(
    session: AsyncSession, settings: Settings
) -> None:
    test_settings = with_webhooks(settings, log_retention_days=30)
    workspace_id = await new_workspace(session)
    await new_endpoint(session, test_settings, workspace_id, "http://127.0.0.1:9/hook")
    old_done = await one_delivery(session, workspace_id, 1)
    old_pending = await one_delivery(session, workspace_id, 2)
    recent_done = await one_delivery(session, workspace_id, 3)
    long_ago = datetime.now(UTC) - timedelta(days=31)
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_([old_done, recent_done]))
        .values(status="succeeded")
    )
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_([old_done, old_pending]))
        .values(created_at=long_ago)
    )
    context = JobContext(
        session=session, settings=test_settings, job_id="p", task="webhooks.prune_log", attempt=1
    )

    await prune_webhook_log(context)

    left = (
        await session.execute(
            select(WebhookDelivery.id).where(WebhookDelivery.workspace_id == workspace_id)
        )
    ).scalars()
    assert set(left) == {old_pending, recent_done}
