"""Role runtime: what every `maily <role>` process does around its main loop."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import structlog

from maily.config import Settings
from maily.kit.health import Check, HealthServer
from maily.kit.logging import configure_logging, get_logger
from maily.kit.metrics import ROLE_UP
from maily.kit.tracing import configure_tracing, flush_tracing

RoleMain = Callable[[asyncio.Event], Awaitable[None]]
"""A role's main loop: works until the event is set, then returns."""

# Health side port of each non-API role is `roles.health_base_port` + its offset.
# Offsets start at 1: the default base, 9100, is node_exporter's port.
ROLE_PORT_OFFSETS: Final[Mapping[str, int]] = {
    "worker": 1,
    "sender": 2,
    "scheduler": 3,
    "analytics": 4,
    "ai": 5,
    "inbound": 6,
    "webhooks": 7,
    "tracking": 8,
}

_STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)

_log = get_logger("maily.roles")


async def _as_coroutine(work: Awaitable[None]) -> None:
    await work  # a task needs a coroutine; a role's main may be any awaitable


def health_port_for(name: str, settings: Settings) -> int:
    """The side port of role `name`; 0 (any free port) when the base port is 0."""
    try:
        offset = ROLE_PORT_OFFSETS[name]
    except KeyError:
        known = ", ".join(ROLE_PORT_OFFSETS)
        raise ValueError(f"unknown role {name!r}; roles with a side port: {known}") from None
    base = settings.roles.health_base_port
    return 0 if base == 0 else base + offset


async def run_role(
    name: str,
    settings: Settings,
    main: RoleMain,
    *,
    checks: Mapping[str, Check] | None = None,
    health_port: int | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run role `name` until it is told to stop, with logging, tracing and a health port.

    `health_port` overrides the role's side port (0: any free port). When `stop` is
    given the caller owns shutdown (`maily up` runs several roles on one event) and
    no signal handlers are installed; otherwise SIGTERM or SIGINT sets the stop
    event, and a second one cancels `main`. Returns normally after a signalled stop,
    so the process exits 0; an error in `main` (or a taken port) is logged and
    propagates. Several roles in one process each run in their own task, so each
    keeps its own `role` in the log context.
    """
    configure_logging(settings)
    provider = configure_tracing(settings, name)
    port = health_port if health_port is not None else health_port_for(name, settings)

    owns_signals = stop is None
    stop_event = asyncio.Event() if stop is None else stop
    loop = asyncio.get_running_loop()
    main_task: asyncio.Task[None] | None = None
    forced = False

    def on_signal(signum: signal.Signals) -> None:
        nonlocal forced
        if not stop_event.is_set():
            _log.info("stop requested", signal=signum.name)
            stop_event.set()
        elif main_task is not None and not main_task.done():
            # A second signal: the operator will not wait for a graceful stop.
            _log.warning("stopping now", signal=signum.name)
            forced = True
            main_task.cancel()

    with structlog.contextvars.bound_contextvars(role=name):
        if owns_signals:
            # Before anything slow: a SIGTERM during startup must still stop cleanly.
            for signum in _STOP_SIGNALS:
                loop.add_signal_handler(signum, on_signal, signum)
        server = HealthServer(
            settings.roles.health_host,
            port,
            checks,
            check_timeout=settings.observability.readiness_timeout_seconds,
        )
        try:
            await server.start()
            ROLE_UP.labels(role=name).set(1)
            _log.info("role started", pid=os.getpid(), health_port=server.port)
            main_task = asyncio.create_task(_as_coroutine(main(stop_event)), name=f"role-{name}")
            try:
                await main_task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                cancelled_from_outside = current is not None and current.cancelling() > 0
                if cancelled_from_outside or not forced:
                    raise
        except Exception:
            _log.exception("role failed")
            raise
        finally:
            ROLE_UP.labels(role=name).set(0)
            await server.stop()
            if owns_signals:
                for signum in _STOP_SIGNALS:
                    loop.remove_signal_handler(signum)
            await asyncio.to_thread(flush_tracing, provider)
        _log.info("role stopped")


async def idle_until_stopped(name: str, stop: asyncio.Event) -> None:
    """Main loop of a role whose work arrives in a later release: it only waits."""
    _log.info("nothing to do yet", role=name)
    await stop.wait()
