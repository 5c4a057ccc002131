"""configure_logging: JSON lines from structlog and stdlib, with context and trace ids."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from maily.config import Settings
from maily.kit.logging import configure_logging, get_logger

Configure = Callable[..., io.StringIO]


@pytest.fixture
def configure() -> Iterator[Configure]:
    """Configure logging into a buffer; put the root logger back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def _configure(**observability: Any) -> io.StringIO:
        stream = io.StringIO()
        settings = Settings(_env_file=None, observability=observability)
        configure_logging(settings, stream=stream)
        return stream

    yield _configure
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structlog_and_stdlib_lines_are_json(configure: Configure) -> None:
    stream = configure()

    get_logger("maily.test").info("campaign scheduled", campaign="spring")
    logging.getLogger("uvicorn.error").warning("port %d busy", 8000)

    first, second = lines(stream)
    assert first["message"] == "campaign scheduled"
    assert first["campaign"] == "spring"
    assert first["level"] == "info"
    assert first["logger"] == "maily.test"
    assert first["timestamp"].endswith("Z")
    assert list(first)[:4] == ["timestamp", "level", "logger", "message"]
    assert second["message"] == "port 8000 busy"
    assert second["level"] == "warning"
    assert second["logger"] == "uvicorn.error"


def test_context_variables_reach_every_line(configure: Configure) -> None:
    stream = configure()

    with structlog.contextvars.bound_contextvars(request_id="req-1"):
        get_logger("maily.test").info("inside")
        logging.getLogger("sqlalchemy.engine.Engine").warning("slow query")
    get_logger("maily.test").info("outside")

    inside, stdlib_inside, outside = lines(stream)
    assert inside["request_id"] == "req-1"
    assert stdlib_inside["request_id"] == "req-1"
    assert "request_id" not in outside


def test_lines_carry_the_current_span_ids(configure: Configure) -> None:
    stream = configure()
    tracer = TracerProvider().get_tracer("test")

    with tracer.start_as_current_span("work") as span:
        get_logger("maily.test").info("traced")
        logging.getLogger("maily.stdlib").info("traced too")
    get_logger("maily.test").info("untraced")

    context = span.get_span_context()
    traced, stdlib_traced, untraced = lines(stream)
    for line in (traced, stdlib_traced):
        assert line["trace_id"] == format(context.trace_id, "032x")
        assert line["span_id"] == format(context.span_id, "016x")
    assert "trace_id" not in untraced


def test_exceptions_are_rendered_into_the_line(configure: Configure) -> None:
    stream = configure()

    try:
        raise ValueError("bad template")
    except ValueError:
        get_logger("maily.test").exception("render failed")

    (line,) = lines(stream)
    assert line["level"] == "error"
    assert "ValueError: bad template" in line["exception"]


def test_level_filters_both_sides(configure: Configure) -> None:
    stream = configure(log_level="warning")

    get_logger("maily.test").info("hidden")
    logging.getLogger("maily.stdlib").info("hidden too")
    get_logger("maily.test").warning("shown")

    assert [line["message"] for line in lines(stream)] == ["shown"]


def test_console_format_when_json_is_off(configure: Configure) -> None:
    stream = configure(log_json=False)

    get_logger("maily.test").info("hello", contact_count=3)

    output = stream.getvalue()
    assert "hello" in output
    assert "contact_count=3" in output
    with pytest.raises(json.JSONDecodeError):
        json.loads(output)


def test_reconfiguring_replaces_the_handler(configure: Configure) -> None:
    first = configure()
    second = configure()

    get_logger("maily.test").info("once")

    assert first.getvalue() == ""
    assert [line["message"] for line in lines(second)] == ["once"]
