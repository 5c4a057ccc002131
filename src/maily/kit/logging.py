"""Logging: structlog and stdlib logging rendered as one stream of JSON (or console) lines."""

from __future__ import annotations

import logging
import sys
from typing import Final, TextIO

import structlog
from opentelemetry import trace
from structlog.types import EventDict, Processor, WrappedLogger

from maily.config import Settings

# Loggers of libraries that install their own handlers or log too much by default.
_ROUTED_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access")
_QUIET_LOGGERS: Final = {
    # RequestIdMiddleware writes the one access line per request, with request id.
    "uvicorn.access": logging.WARNING,
    # SQL statements only when asked for (`database.echo` or the log level).
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.WARNING,
}

_handler: logging.Handler | None = None


def add_trace_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Add the current OpenTelemetry span's ids, so a log line leads to its trace."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


_LEADING_KEYS: Final = ("timestamp", "level", "logger", "message")


def _leading_keys_first(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Put when, how bad, where and what at the start of a line, for people reading it raw."""
    ordered = {key: event_dict.pop(key) for key in _LEADING_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


def _shared_processors() -> list[Processor]:
    """Applied to every line, whether it came from structlog or from stdlib logging."""
    return [
        structlog.contextvars.merge_contextvars,  # request_id, role, ...
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        structlog.processors.StackInfoRenderer(),
    ]


def _renderers(json: bool) -> list[Processor]:
    if json:
        return [
            structlog.processors.format_exc_info,
            # `message` is the field log shippers (Filebeat, Loki, Kibana) show by default.
            structlog.processors.EventRenamer("message"),
            _leading_keys_first,
            structlog.processors.JSONRenderer(),
        ]
    return [structlog.dev.ConsoleRenderer(colors=False)]


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging through one handler writing to `stream` (stdout).

    Safe to call again (each role of `maily up` does): the handler installed by the
    previous call is replaced, other handlers on the root logger are left alone.
    """
    global _handler
    observability = settings.observability

    # The structlog side never depends on settings: loggers cached on first use keep
    # this chain, and rendering happens in the stdlib handler configured below.
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_renderers(observability.log_json),
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(observability.log_level.upper())
    _handler = handler

    for name in _ROUTED_LOGGERS:
        # uvicorn's own config gives these handlers of their own and stops propagation.
        routed = logging.getLogger(name)
        routed.handlers.clear()
        routed.propagate = True
    for name, level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    # With `echo=True` SQLAlchemy adds a plain stdout handler to this logger unless
    # it already has one; a NullHandler keeps echoed SQL flowing through ours instead.
    engine_logger = logging.getLogger("sqlalchemy.engine.Engine")
    if not engine_logger.handlers:
        engine_logger.addHandler(logging.NullHandler())

    logging.captureWarnings(True)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named like a stdlib one (`maily.delivery.sender`)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
