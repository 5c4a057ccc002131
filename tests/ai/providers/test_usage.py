"""Token and cost accounting: each model call stored once per workspace, priced with
its provider's prices; keys encrypted at rest."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client import REGISTRY
from pydantic_ai import Agent
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from maily.ai.providers import DatabaseUsageSink, workspace_model
from maily.config import Settings
from maily.kit.db import AsyncSession, create_sessionmaker
from maily.models import AIUsage
from tests.ai.conftest import FAKE_OPENAI_KEY
from tests.ai.fakes import Failure, FakeAnthropic, FakeOpenAI, Text
from tests.ai.providers.support import add_provider, new_workspace


def exported(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def sink_on(connection: AsyncConnection) -> DatabaseUsageSink:
    """The sink, committing into savepoints of the test's transaction."""
    sessionmaker = create_sessionmaker(connection)  # type: ignore[arg-type]
    sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")
    return DatabaseUsageSink(sessionmaker)


async def test_each_call_is_counted_and_priced_once(
    session: AsyncSession,
    connection: AsyncConnection,
    ai_settings: Settings,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> None:
    workspace_id = await new_workspace(session)
    other_workspace = await new_workspace(session)
    primary = await add_provider(
        session,
        workspace_id,
        fake_openai,
        name="Primary",
        priority=1,
        input_price_per_mtok=Decimal("3"),
        output_price_per_mtok=Decimal("15"),
    )
    backup = await add_provider(
        session,
        workspace_id,
        fake_anthropic,
        name="Backup",
        priority=2,
        input_price_per_mtok=Decimal("1"),
        output_price_per_mtok=Decimal("5"),
    )
    await session.commit()  # a savepoint: the sink's own session sees the providers
    fake_openai.answer(
        Text("first", input_tokens=1000, output_tokens=200),
        Failure.server_error(),
    )
    fake_anthropic.answer(Text("second", input_tokens=4000, output_tokens=1000))
    model = await workspace_model(session, workspace_id, ai_settings)
    first = await Agent(model).run("one")
    second = await Agent(model).run("two", message_history=first.all_messages())

    sink = sink_on(connection)
    messages = first.new_messages() + second.new_messages()
    openai_in = dict(provider="openai", task_kind="subject_lines", direction="input")
    tokens_before = exported("maily_ai_tokens_total", **openai_in)
    calls_before = exported("maily_ai_calls_total", provider="anthropic", task_kind="subject_lines")
    usage = await sink.record(workspace_id, "subject_lines", messages)
    assert usage.requests == 2
    assert (usage.input_tokens, usage.output_tokens) == (5000, 1200)
    expected = (1000 * 3 + 200 * 15 + 4000 * 1 + 1000 * 5) / 1_000_000
    assert abs(usage.cost_usd - expected) < 1e-9
    assert usage.models == ["openai:fake-gpt", "anthropic:fake-claude"]

    # The same messages again (a retried record, or history passed along) add nothing.
    again = await sink.record(workspace_id, "subject_lines", messages)
    assert again == usage
    # ... to the Prometheus counters either: each call is exported once.
    assert exported("maily_ai_tokens_total", **openai_in) - tokens_before == 1000
    calls = exported("maily_ai_calls_total", provider="anthropic", task_kind="subject_lines")
    assert calls - calls_before == 1
    rows = (
        (await session.execute(select(AIUsage).where(AIUsage.workspace_id == workspace_id)))
        .scalars()
        .all()
    )
    by_provider = {row.provider_id: row for row in rows}
    assert len(rows) == 2
    assert by_provider[primary.id].cost_usd == Decimal("0.006000000")
    assert by_provider[primary.id].provider_name == "Primary"
    assert by_provider[backup.id].input_tokens == 4000
    assert by_provider[backup.id].task_kind == "subject_lines"
    assert {row.workspace_id for row in rows} == {workspace_id}
    assert await sink.record(other_workspace, "subject_lines", []) == type(usage)()


async def test_api_keys_are_encrypted_at_rest(
    session: AsyncSession, fake_openai: FakeOpenAI
) -> None:
    workspace_id = await new_workspace(session)
    provider = await add_provider(session, workspace_id, fake_openai)
    stored = (
        await session.execute(
            text("SELECT api_key FROM ai_providers WHERE id = :id"), {"id": provider.id}
        )
    ).scalar_one()
    assert FAKE_OPENAI_KEY not in stored
    assert stored.startswith("gAAAA")
    await session.refresh(provider)
    assert provider.api_key == FAKE_OPENAI_KEY
