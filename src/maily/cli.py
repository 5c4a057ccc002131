"""The `maily` command: each service role as its own process, plus migrations and admin."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from maily.config import Settings, get_settings
from maily.kit.errors import MailyError

app = typer.Typer(
    help="Maily: self-hosted, AI-assisted email marketing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
workspaces_app = typer.Typer(help="Manage workspaces.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(workspaces_app, name="workspaces")


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return asyncio.run(coro)
    except MailyError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


def _require_stores(settings: Settings) -> None:
    missing = [
        name
        for name, value in (
            ("MAILY_DATABASE_URL", settings.database.url),
            ("MAILY_REDIS_URL", settings.redis.url),
        )
        if not value
    ]
    if missing:
        typer.echo(
            f"{' and '.join(missing)} must be set to run a single role "
            "(or use `maily up`, which starts embedded stores)",
            err=True,
        )
        raise typer.Exit(2)


# -- service roles --------------------------------------------------------------


@app.command()
def up(
    data_dir: Annotated[
        Path | None, typer.Option(help="Where embedded stores keep their data (default ./.maily)")
    ] = None,
    host: Annotated[str | None, typer.Option(help="API host")] = None,
    port: Annotated[int | None, typer.Option(help="API port")] = None,
) -> None:
    """Run every role in one process, with embedded PostgreSQL and Redis unless configured."""
    from maily.up import run_up

    settings = _settings()
    if data_dir is not None:
        settings.data_dir = data_dir
    if host is not None:
        settings.api.host = host
    if port is not None:
        settings.api.port = port
    run_up(settings)


@app.command()
def api() -> None:
    """Serve the HTTP API (with /healthz, /readyz and /metrics on the same port)."""
    from maily.api.server import serve_api

    settings = _settings()
    _require_stores(settings)
    serve_api(settings)


RoleMain = Callable[[asyncio.Event], Awaitable[None]]
# A readiness check (maily.kit.health.Check), spelled out to keep the CLI's imports light.
Check = Callable[[], Awaitable[None]]


def _role(
    name: str,
    main: Callable[[Settings], RoleMain],
    *,
    uvloop: bool = False,
    checks: Callable[[Settings], dict[str, Check]] | None = None,
) -> None:
    settings = _settings()
    _require_stores(settings)
    extra = checks(settings) if checks is not None else {}
    if uvloop:
        import uvloop as _uvloop

        with asyncio.Runner(loop_factory=_uvloop.new_event_loop) as runner:
            runner.run(_run_role_with_checks(name, settings, main(settings), extra))
        return
    asyncio.run(_run_role_with_checks(name, settings, main(settings), extra))


async def _run_role_with_checks(
    name: str, settings: Settings, main: RoleMain, extra: dict[str, Check] | None = None
) -> None:
    """Run a role whose /readyz reports whether PostgreSQL and Redis answer (and the
    role's own `extra` checks)."""
    from redis.asyncio import Redis

    from maily.kit.crypto import SecretBox, configure_secret_box
    from maily.kit.db import create_engine
    from maily.kit.health import database_check, redis_check
    from maily.kit.roles import run_role

    assert settings.database.url
    assert settings.redis.url
    configure_secret_box(SecretBox.from_settings(settings))
    engine = create_engine(settings.database.url, pool_size=1, max_overflow=0)
    redis = Redis.from_url(settings.redis.url)
    try:
        checks = {"database": database_check(engine), "redis": redis_check(redis), **(extra or {})}
        await run_role(name, settings, main, checks=checks)
    finally:
        await redis.aclose()
        await engine.dispose()


def _worker(settings: Settings) -> RoleMain:
    from maily.workers import run_worker

    return lambda stop: run_worker(settings, stop)


@app.command()
def worker() -> None:
    """Run background jobs from the Redis queue."""
    _role("worker", _worker)


def _sender(settings: Settings) -> RoleMain:
    from maily.delivery.sender import run_sender

    return lambda stop: run_sender(settings, stop)


def _scheduler(settings: Settings) -> RoleMain:
    from maily.campaigns.scheduler import run_scheduler

    return lambda stop: run_scheduler(settings, stop)


@app.command()
def sender() -> None:
    """Lease deliveries from the ledger and hand them to transports."""
    _role("sender", _sender)


@app.command()
def scheduler() -> None:
    """Move due campaigns along (one active instance)."""
    _role("scheduler", _scheduler)


def _webhooks(settings: Settings) -> RoleMain:
    from maily.webhooks.dispatcher import run_webhooks

    return lambda stop: run_webhooks(settings, stop)


@app.command()
def webhooks() -> None:
    """Turn tracking events into signed webhook deliveries (consumer group `webhooks`)."""
    _role("webhooks", _webhooks)


def _analytics(settings: Settings) -> RoleMain:
    from maily.analytics.consumer import run_analytics

    return lambda stop: run_analytics(settings, stop)


def _tracking(settings: Settings) -> RoleMain:
    from maily.tracking.server import run_tracking

    return lambda stop: run_tracking(settings, stop)


@app.command()
def tracking() -> None:
    """Serve the public tracking endpoints: open pixel, clicks, unsubscribe, preferences."""
    _role("tracking", _tracking, uvloop=True)


@app.command()
def analytics() -> None:
    """Consume tracking events and keep rollups current."""
    _role("analytics", _analytics)


def _ai(settings: Settings) -> RoleMain:
    from maily.ai.server import run_ai

    return lambda stop: run_ai(settings, stop)


def _ai_checks(settings: Settings) -> dict[str, Check]:
    from maily.ai.server import serving_check

    return {"grpc": serving_check(settings.ai.host, settings.ai.port)}


@app.command()
def ai() -> None:
    """Serve the AI service over gRPC (MAILY_AI__HOST / MAILY_AI__PORT)."""
    _role("ai", _ai, checks=_ai_checks)


def _inbound(settings: Settings) -> RoleMain:
    from maily.delivery.inbound.server import run_inbound

    return lambda stop: run_inbound(settings, stop)


@app.command()
def inbound() -> None:
    """Receive bounces and complaints at the VERP return path over SMTP."""
    _role("inbound", _inbound)


# -- database -------------------------------------------------------------------


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply database migrations."""
    from maily.kit.db.migrate import upgrade

    settings = _settings()
    if not settings.database.url:
        typer.echo("MAILY_DATABASE_URL must be set", err=True)
        raise typer.Exit(2)
    upgrade(settings.database.url, revision)
    typer.echo(f"database migrated to {revision}")


@app.command("rotate-secrets")
def rotate_secrets() -> None:
    """Re-encrypt every stored secret under the first key of MAILY_SECURITY__ENCRYPTION_KEYS."""
    from maily.kit.crypto import SecretBox, configure_secret_box, rotate_all
    from maily.kit.db import create_engine, create_sessionmaker, transaction

    settings = _settings()
    if not settings.database.url:
        typer.echo("MAILY_DATABASE_URL must be set", err=True)
        raise typer.Exit(2)
    database_url = settings.database.url

    async def rotate() -> int:
        configure_secret_box(SecretBox.from_settings(settings))
        engine = create_engine(database_url, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                return await rotate_all(session)
        finally:
            await engine.dispose()

    typer.echo(f"re-encrypted {_run(rotate())} stored secrets")


# -- operations -----------------------------------------------------------------


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per finding")] = False,
) -> None:
    """Check the configuration, PostgreSQL, Redis, object storage, the SMTP relay and
    the DNS of every sending domain. Exits 1 when a check fails."""
    import json

    from maily.ops.doctor import Doctor, Status, worst

    findings = _run(Doctor(_settings()).run())
    for finding in findings:
        if as_json:
            typer.echo(json.dumps(finding.to_json()))
        else:
            typer.echo(f"{finding.status.value:<4}  {finding.check}: {finding.detail}")
    if worst(findings) is Status.fail:
        raise typer.Exit(1)


@app.command()
def backup(
    output: Annotated[Path, typer.Argument(help="New (or empty) folder for the backup")],
) -> None:
    """Back up the database (pg_dump) and every stored object into a folder."""
    from maily.ops.backup import backup as run_backup

    manifest = _run(run_backup(_settings(), output))
    typer.echo(
        f"backed up the database (revision {manifest.database_revision}) and "
        f"{manifest.objects} objects ({manifest.object_bytes} bytes) to {output}"
    )


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="Folder written by `maily backup`")],
) -> None:
    """Restore a backup into an empty database and write its objects back."""
    from maily.ops.backup import restore as run_restore

    manifest = _run(run_restore(_settings(), source))
    typer.echo(
        f"restored the database (revision {manifest.database_revision}) and "
        f"{manifest.objects} objects from {source}"
    )


# -- admin ----------------------------------------------------------------------


def _admin_call(action: Callable[[Any], Awaitable[Any]]) -> Any:
    from maily.admin import Admin

    settings = _settings()
    if not settings.database.url:
        typer.echo("MAILY_DATABASE_URL must be set", err=True)
        raise typer.Exit(2)

    async def go() -> Any:
        admin = Admin(settings)
        try:
            return await action(admin)
        finally:
            await admin.close()

    return _run(go())


def _password_or_prompt(password: str | None) -> str:
    from maily.admin import generate_password

    if password is None:
        password = generate_password()
        typer.echo(f"generated password: {password}")
    if len(password) < 10:
        typer.echo("the password needs at least 10 characters", err=True)
        raise typer.Exit(2)
    return password


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Sign-in address")],
    password: Annotated[str | None, typer.Option(help="Leave out to generate one")] = None,
    name: Annotated[str, typer.Option()] = "",
) -> None:
    """Create an account."""
    secret = _password_or_prompt(password)
    user = _admin_call(lambda admin: admin.create_user(email, secret, name))
    typer.echo(f"created user {user.email} ({user.id})")


@users_app.command("reset-password")
def users_reset_password(
    email: Annotated[str, typer.Option(help="Sign-in address")],
    password: Annotated[str | None, typer.Option(help="Leave out to generate one")] = None,
) -> None:
    """Set a new password; every session of the account ends."""
    secret = _password_or_prompt(password)
    _admin_call(lambda admin: admin.reset_password(email, secret))
    typer.echo(f"password reset for {email}; all its sessions were signed out")


@workspaces_app.command("create")
def workspaces_create(
    name: Annotated[str, typer.Option(help="Workspace name")],
    owner_email: Annotated[str, typer.Option(help="Existing account that will own it")],
) -> None:
    """Create a workspace owned by an existing account."""
    workspace = _admin_call(lambda admin: admin.create_workspace(name, owner_email))
    typer.echo(f"created workspace {workspace.name} ({workspace.id})")


@app.command()
def openapi() -> None:
    """Print the API's OpenAPI document (JSON), e.g. `maily openapi > web/openapi.json`."""
    import json

    from maily.api.app import create_app

    document = create_app(_settings()).openapi()
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


@app.command()
def version() -> None:
    """Print Maily's version."""
    from maily import __version__

    typer.echo(__version__)


def main() -> None:
    app()
