"""One campaign send, one trace: the API request that starts it, the scheduler's moves
and every sender batch, seen by an in-memory exporter.

The API, the scheduler and the sender each get their own tracer provider (as their
processes would), all writing to one exporter; none is the process-wide provider, so
other tests run untraced. Data is committed (no outer test transaction): the
scheduler and the sender read it on connections of their own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from maily.api.app import create_app
from maily.api.state import AppState
from maily.api.tracing import instrument_app
from maily.campaigns.scheduler import Scheduler
from maily.config import SchedulerSettings, SenderSettings, Settings
from maily.delivery.parts import DeliveryParts
from maily.delivery.sender import Sender
from maily.kit.db import create_sessionmaker, transaction
from maily.kit.queue import JobQueue
from maily.kit.tracing import configure_tracing
from maily.models import Campaign, Event, User, Workspace
from tests.campaigns.support import RecordingTransport, StandInComposer
from tests.campaigns.test_api import Api
from tests.conftest import sign_up


def provider_for(role: str, exporter: InMemorySpanExporter) -> TracerProvider:
    settings = Settings(_env_file=None, observability={"tracing_enabled": True})
    provider = configure_tracing(settings, role, exporter, set_global=False)
    assert provider is not None
    return provider


@dataclass
class Roles:
    api: Api
    scheduler: Scheduler
    sender: Sender
    composer: StandInComposer
    transport: RecordingTransport
    exporter: InMemorySpanExporter

    async def send(self, name: str, list_id: str) -> str:
        """Create and start a campaign over the API, then let the scheduler begin it,
        the sender drain it and the scheduler finish it."""
        body = {
            "name": name,
            "subject": f"{name} news",
            "template_id": str(self.composer.template()),
            "sender_id": str(uuid.uuid4()),
            "list_ids": [list_id],
        }
        campaign_id = str((await self.api.ok("POST", "/campaigns", 201, json=body))["id"])
        started = await self.api.ok("POST", f"/campaigns/{campaign_id}/start")
        assert started["status"] == "scheduled"

        began = await self.scheduler.tick()
        assert began is not None
        assert uuid.UUID(campaign_id) in began.started
        for _ in range(10):
            if not (await self.sender.run_batch()).leased:
                break
        finished = await self.scheduler.tick()
        assert finished is not None
        assert uuid.UUID(campaign_id) in finished.finished
        return campaign_id

    async def trace_context(self, campaign_id: str) -> dict[str, str]:
        key = (self.api.account.workspace_id, uuid.UUID(campaign_id))
        async with transaction(self.scheduler.sessionmaker) as session:
            campaign = await session.get(Campaign, key)
            assert campaign is not None
            assert campaign.trace_context is not None
            return campaign.trace_context

    def spans_of(self, campaign_id: str) -> dict[str, list[ReadableSpan]]:
        """The campaign's spans by name: its start request, scheduler moves, batches."""
        found: dict[str, list[ReadableSpan]] = {}
        for span in self.exporter.get_finished_spans():
            attributes = span.attributes or {}
            route = str(attributes.get("http.route", ""))
            ours = attributes.get("maily.campaign_id") == campaign_id or (
                span.kind is SpanKind.SERVER
                and route.endswith("/start")
                and campaign_id in str(attributes.get("http.target", attributes.get("url.path")))
            )
            if ours:
                name = "start request" if span.kind is SpanKind.SERVER else span.name
                found.setdefault(name, []).append(span)
        return found


@pytest.fixture
async def roles(
    app_state: AppState, engine: AsyncEngine, job_queue_for_requests: JobQueue
) -> AsyncIterator[Roles]:
    exporter = InMemorySpanExporter()
    # Requests commit for real (the production session), so other connections see them.
    app = create_app(app_state.settings, state=app_state)
    instrument_app(app, provider_for("api", exporter))
    composer, transport = StandInComposer(), RecordingTransport()
    app.state.delivery_parts = DeliveryParts(composer, transport)
    sessionmaker = create_sessionmaker(engine)
    scheduler = Scheduler(
        engine,
        sessionmaker,
        SchedulerSettings(),
        tracer_provider=provider_for("scheduler", exporter),
    )
    # One row per batch: a campaign of two is two batch spans.
    sender = Sender(
        sessionmaker,
        composer,
        transport,
        SenderSettings(batch_size=1),
        owner="traced-sender",
        rand=lambda: 1.0,
        tracer_provider=provider_for("sender", exporter),
    )
    transport_ = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport_, base_url="http://testserver") as client:
        account = await sign_up(client)
        try:
            yield Roles(Api(client, account), scheduler, sender, composer, transport, exporter)
        finally:
            await scheduler.release()
            async with transaction(sessionmaker) as session:
                await session.execute(
                    delete(Event).where(Event.workspace_id == account.workspace_id)
                )
                await session.execute(delete(Workspace).where(Workspace.id == account.workspace_id))
                await session.execute(delete(User).where(User.id == account.user_id))


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_campaign_send_is_one_trace_from_the_api_through_scheduler_and_sender(
    roles: Roles,
) -> None:
    api = roles.api
    await api.client.patch(
        api.base, headers=api.account.headers, json={"postal_address": "1 Main St, Springfield"}
    )
    mailing_list = await api.ok("POST", "/lists", 201, json={"name": "News"})
    await api.contact("ann@example.com", mailing_list["id"])
    await api.contact("bob@example.com", mailing_list["id"])

    first = await roles.send("Winter", mailing_list["id"])
    second = await roles.send("Spring", mailing_list["id"])
    assert sorted(roles.transport.recipients()) == ["ann@example.com"] * 2 + ["bob@example.com"] * 2

    traces = []
    for campaign_id in (first, second):
        spans = roles.spans_of(campaign_id)
        assert sorted(spans) == [
            "campaign.begin",
            "campaign.finish",
            "sender.batch",
            "start request",
        ]
        (request,) = spans["start request"]
        (begin,) = spans["campaign.begin"]
        (finish,) = spans["campaign.finish"]
        batches = spans["sender.batch"]
        assert len(batches) == 2, "one span per leased batch, none per message"

        trace_id = hex_trace(request)
        assert request.resource.attributes["service.name"] == "maily-api"
        assert request.parent is None, "the start request begins the trace"
        assert request.context is not None
        # What the row keeps is the W3C context of that request.
        stored = await roles.trace_context(campaign_id)
        span_id = format(request.context.span_id, "016x")
        version, stored_trace, stored_span, flags = stored["traceparent"].split("-")
        assert (version, stored_trace, stored_span) == ("00", trace_id, span_id)
        assert int(flags, 16) & 1, "sampled"
        for span in (begin, finish, *batches):
            # Every later step hangs off the request that started the send.
            assert hex_trace(span) == trace_id, span.name
            assert parent_of(span) == request.context.span_id, span.name
        assert begin.resource.attributes["service.name"] == "maily-scheduler"
        assert (begin.attributes or {})["maily.campaign.audience_size"] == 2
        for batch in batches:
            attributes = batch.attributes or {}
            assert batch.resource.attributes["service.name"] == "maily-sender"
            assert attributes["maily.batch.rows"] == 1
            assert attributes["maily.deliveries.sent"] == 1
            assert attributes["maily.transport"] == "recording"
        # In causal order: started, begun, each batch, finished.
        assert request.end_time is not None
        assert begin.start_time is not None
        assert request.end_time <= begin.start_time
        assert all(b.start_time is not None and b.start_time >= begin.start_time for b in batches)
        assert finish.start_time is not None
        assert all(b.end_time is not None and b.end_time <= finish.start_time for b in batches)
        traces.append(trace_id)

    assert traces[0] != traces[1], "each send is its own trace"
