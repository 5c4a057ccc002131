"""`maily up`: every role in one process, on embedded stores when none are configured.

Roles still talk only through PostgreSQL and Redis, exactly as when deployed apart."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable

from maily.admin import Admin
from maily.api.server import EmbeddedUvicorn, uvicorn_config
from maily.config import Settings
from maily.kit.db.migrate import upgrade
from maily.kit.logging import configure_logging, get_logger
from maily.kit.roles import run_role

_log = get_logger("maily.up")

FIRST_OWNER_EMAIL = "owner@example.com"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_up(settings: Settings) -> None:
    # Until the event loop takes over, SIGTERM unwinds like Ctrl-C so the embedded
    # servers started so far are stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    configure_logging(settings)
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if not settings.database.url:
            from maily.kit.embedded import EmbeddedPostgres

            postgres = EmbeddedPostgres(data_dir)
            settings.database.url = postgres.start()
            stack.callback(postgres.stop)
            _log.info("embedded PostgreSQL started", data_dir=str(data_dir / "postgres"))
        if not settings.redis.url:
            from maily.kit.embedded import EmbeddedRedis

            redis = EmbeddedRedis(data_dir)
            settings.redis.url = redis.start()
            stack.callback(redis.stop)
            _log.info("embedded Redis started", url=settings.redis.url)
        with contextlib.suppress(KeyboardInterrupt):
            upgrade(settings.database.url)
            _log.info("database migrated")
            asyncio.run(_serve_all(settings))
    _log.info("maily stopped")


async def _announce_first_owner(settings: Settings) -> None:
    admin = Admin(settings)
    try:
        owner = await admin.ensure_first_owner(FIRST_OWNER_EMAIL)
    finally:
        await admin.close()
    if owner is None:
        return
    url = settings.api.external_url
    print(
        "\n"
        "  Maily is set up. Sign in with\n"
        f"    email:     {owner.email}\n"
        f"    password:  {owner.password}\n"
        f"    workspace: {owner.workspace.name} ({owner.workspace.id})\n"
        f"  API: {url}/api/v1   docs: {url}/api/docs\n"
        f"  Token: curl -d 'username={owner.email}&password={owner.password}' {url}/api/v1/auth/token\n"
        "  Lost it? `maily users reset-password --email " + owner.email + "`\n",
        file=sys.stderr,
        flush=True,
    )


async def _serve_all(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    await _announce_first_owner(settings)

    roles: dict[str, Callable[[asyncio.Event], Awaitable[None]]] = {}
    from maily.ai.server import run_ai
    from maily.analytics.consumer import run_analytics
    from maily.campaigns.scheduler import run_scheduler
    from maily.delivery.inbound.server import run_inbound
    from maily.delivery.sender import run_sender
    from maily.webhooks.dispatcher import run_webhooks
    from maily.workers import run_worker

    roles["worker"] = lambda event: run_worker(settings, event)
    roles["sender"] = lambda event: run_sender(settings, event)
    roles["scheduler"] = lambda event: run_scheduler(settings, event)
    roles["webhooks"] = lambda event: run_webhooks(settings, event)
    roles["analytics"] = lambda event: run_analytics(settings, event)
    # Bounce and complaint mail on MAILY_INBOUND__PORT (2525 unless configured).
    roles["inbound"] = lambda event: run_inbound(settings, event)
    # The AI service over gRPC on MAILY_AI__PORT (50051 unless configured).
    roles["ai"] = lambda event: run_ai(settings, event)

    api = EmbeddedUvicorn(uvicorn_config(settings))
    tasks = [asyncio.create_task(api.serve(), name="api")]
    tasks += [
        asyncio.create_task(run_role(name, settings, main, stop=stop, health_port=0), name=name)
        for name, main in roles.items()
    ]
    _log.info("maily is up", api=f"http://{settings.api.host}:{settings.api.port}")

    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    api.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    stopper.cancel()
    for task in done:
        if task is not stopper and not task.cancelled() and task.exception():
            raise task.exception()  # type: ignore[misc]
