"""Settings: one pydantic-settings class, `MAILY_` prefix, nested groups, `.env` support."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development defaults. Outside development mode `Settings` refuses to start with them.
DEV_SECRET_KEY = "dev-only-secret-key-change-me-0000000000000000"  # noqa: S105 - refused outside development
DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktZW5jcnlwdGlvbi1rZXktY2hhbmdlLW0="  # base64 of 32 bytes


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class DatabaseSettings(BaseModel):
    url: str | None = None
    pool_size: int = 10
    max_overflow: int = 10
    echo: bool = False


class RedisSettings(BaseModel):
    url: str | None = None


class SecuritySettings(BaseModel):
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    # Comma-free list of Fernet keys (urlsafe base64, 32 bytes); the first encrypts,
    # all decrypt. Rotate by putting a new key first and running `maily rotate-secrets`.
    encryption_keys: list[SecretStr] = Field(
        default_factory=lambda: [SecretStr(DEV_ENCRYPTION_KEY)]
    )
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 60 * 60 * 24 * 30
    invitation_ttl_seconds: int = 60 * 60 * 24 * 7
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "maily"
    # Whether anyone may create an account and workspace through the API.
    allow_signup: bool = True


class RateLimitSettings(BaseModel):
    enabled: bool = True
    # sign-in attempts per (address, client) per window
    sign_in_attempts: int = 10
    sign_in_window_seconds: int = 300
    # API requests per principal per window
    api_requests: int = 1200
    api_window_seconds: int = 60


class APISettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    # The address people reach Maily at (links in mail); defaults to host and port.
    public_url: str | None = None
    cors_origins: list[str] = Field(default_factory=list)

    @property
    def external_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class RoleSettings(BaseModel):
    # Side port for /healthz, /readyz and /metrics of a non-API role; each role
    # adds its offset so several roles can share a host. 0 picks a free port.
    health_host: str = "127.0.0.1"
    health_base_port: int = 9100


class ObservabilitySettings(BaseModel):
    log_level: str = "INFO"
    log_json: bool = True
    tracing_enabled: bool = False
    # OTLP/HTTP endpoint, e.g. http://otel-collector:4318/v1/traces. Empty: console exporter.
    otlp_endpoint: str | None = None
    service_name: str = "maily"
    # Share of new traces recorded (0.0-1.0); a request whose caller sampled it is
    # always recorded, so traces stay whole across services.
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    # Seconds /readyz waits for each readiness check before calling it failed.
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)


class QueueSettings(BaseModel):
    name: str = "maily"
    concurrency: int = 10
    # A running job writes a heartbeat every third of `heartbeat_timeout_seconds`;
    # a job whose heartbeat is older than that belongs to a dead worker, and the
    # sweep (one worker every `sweep_interval_seconds`) queues it to run again.
    heartbeat_timeout_seconds: int = 30
    sweep_interval_seconds: int = 15
    # How long a sweep waits for a live worker to confirm it cancelled a stuck job
    # before re-queueing it anyway (a dead worker never answers).
    sweep_abort_wait_seconds: float = 5.0
    # Retries after the first attempt; a worker that died mid-run uses one too.
    default_retries: int = 5
    default_timeout_seconds: int = 600
    # Exponential backoff with jitter: retry n waits between half and all of
    # min(retry_max_delay, retry_delay * 2**(n-1)) seconds.
    retry_delay_seconds: float = 5.0
    retry_max_delay_seconds: float = 600.0
    # On shutdown, running jobs get this long to finish before they are cancelled
    # and re-queued.
    shutdown_grace_seconds: int = 25
    # How long an idle worker slot blocks on Redis waiting for a job: shutdown
    # waits this long for idle slots; shorter means more idle Redis round trips.
    dequeue_timeout_seconds: float = 1.0


class SenderSettings(BaseModel):
    """The `maily sender` engine: leasing from the delivery ledger and retrying."""

    # Rows leased per batch, and batches in flight at once per sender process
    # (while one batch is with the transport, the next is leased and composed).
    batch_size: int = Field(default=200, ge=1, le=5000)
    concurrency: int = Field(default=4, ge=1, le=64)
    # A lease not settled by then belongs to a dead sender: its rows are leased again.
    lease_seconds: float = Field(default=300.0, gt=0)
    # How long an idle sender waits before looking for due rows again.
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    # Deferred rows: attempt n waits between half and all of
    # min(retry_max, retry_base * 2**(n-1)); after the window (from the first
    # attempt) a deferral becomes a failure. 72 h, like the big providers.
    retry_base_seconds: float = Field(default=60.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    retry_window_seconds: float = Field(default=72 * 3600.0, gt=0)
    # Messages a second, shared by every sender replica (token buckets in Redis): over
    # the transport as a whole, and per workspace. Unset: unlimited. Mail over the
    # limit waits up to a quarter of the lease, then is deferred.
    transport_rate_per_second: float | None = Field(default=None, gt=0)
    workspace_rate_per_second: float | None = Field(default=None, gt=0)


class SchedulerSettings(BaseModel):
    """The `maily scheduler` loop (one active instance, by a PostgreSQL advisory lock)."""

    interval_seconds: float = Field(default=5.0, gt=0)
    # Due campaigns started per tick; the rest wait for the next one.
    campaigns_per_tick: int = Field(default=20, ge=1)


class AnalyticsSettings(BaseModel):
    """Tracking events on their way to reports (see docs/analytics.md)."""

    # The Redis stream the public endpoints, bounce handlers and webhooks append to.
    stream_key: str = "maily:events"
    # Pub/sub channels of live counters are `<prefix><workspace id>`.
    live_channel_prefix: str = "maily:live:"


class StorageSettings(BaseModel):
    """Object storage (templates, images, attachments, imports, exports): see docs/storage.md."""

    backend: Literal["local", "s3"] = "local"
    # Folder of the local backend; unset means `<data_dir>/objects`.
    local_path: Path | None = None
    s3_bucket: str | None = None
    # Any S3-compatible server (MinIO, SeaweedFS, Ceph, R2, ...); unset means AWS.
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    # Unset keys fall back to boto3's own chain (environment, profile, instance or pod role).
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # Put before every key, so several deployments can share one bucket.
    s3_prefix: str = ""
    # Default cap for streamed uploads; a caller may pass its own limit.
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, gt=0)

    @model_validator(mode="after")
    def _require_bucket_for_s3(self) -> StorageSettings:
        if self.backend == "s3" and not self.s3_bucket:
            raise ValueError("MAILY_STORAGE__S3_BUCKET is required when the storage backend is s3")
        return self


class TemplateSettings(BaseModel):
    """Limits on rendering one message (see docs/templates.md)."""

    # Subject, HTML and text of one message together; past it the render fails clearly.
    render_timeout_seconds: float = Field(default=1.0, gt=0)
    # Characters of one rendered part; Gmail clips messages past ~100 KB anyway.
    max_output_chars: int = Field(default=2_000_000, gt=0)


class DeliverySettings(BaseModel):
    """Sending domains: the DNS records Maily asks for and how it checks them
    (see docs/sending-domains.md)."""

    # Resolvers the domain check asks, e.g. ["1.1.1.1", "8.8.8.8"]; empty means the
    # system's (/etc/resolv.conf). A cache-free public resolver sees new records first.
    dns_nameservers: list[str] = Field(default_factory=list)
    dns_port: int = Field(default=53, ge=1, le=65535)
    # Whole budget of one lookup, retries included.
    dns_timeout_seconds: float = Field(default=5.0, gt=0)
    # The bounce domain of example.com is `<return_path_subdomain>.example.com`:
    # the envelope sender (VERP) lives there, so bounces come back to Maily and
    # SPF is checked on a name Maily controls.
    return_path_subdomain: str = "bounces"
    # Either a CNAME target that carries MX and SPF for every customer's bounce
    # domain (one record for them to publish) ...
    return_path_cname_target: str | None = None
    # ... or the host `maily inbound` receives bounces on (MX), with SPF published
    # by the customer; unset means the host of api.public_url.
    return_path_mx_host: str | None = None
    # SPF mechanisms naming the hosts that send, e.g. ["include:spf.example.net",
    # "ip4:203.0.113.7"]; empty means `a:<return-path MX host>`.
    spf_mechanisms: list[str] = Field(default_factory=list)
    # Where DMARC aggregate reports go (rua=mailto:...), if anywhere.
    dmarc_report_address: str | None = None


class SMTPSecurity(StrEnum):
    # Plain TCP: only for a relay on a trusted network (a local Postfix).
    none = "none"
    # Connect in the clear, then upgrade with STARTTLS (port 587); refuses servers
    # that do not offer it rather than sending in the clear.
    starttls = "starttls"
    # TLS from the first byte ("implicit TLS", port 465).
    tls = "tls"


class SMTPSettings(BaseModel):
    """The SMTP relay campaign mail goes out through: see docs/smtp.md."""

    # Unset: no SMTP relay is configured.
    host: str | None = None
    # Unset: 25 for none, 587 for starttls, 465 for tls.
    port: int | None = Field(default=None, ge=1, le=65535)
    security: SMTPSecurity = SMTPSecurity.starttls
    # Both set: AUTH PLAIN (or LOGIN when the server only offers that).
    username: str | None = None
    password: SecretStr | None = None
    # Verify the server's certificate and name; a private CA can be given as a PEM file.
    tls_verify: bool = True
    tls_ca_file: Path | None = None
    # The name we announce in EHLO; unset means this host's fully qualified name.
    ehlo_name: str | None = None
    # Open connections to the relay at most, shared by all sends of one process.
    max_connections: int = Field(default=8, ge=1)
    # A connection is closed (QUIT) and replaced after this many messages.
    messages_per_connection: int = Field(default=1000, ge=1)
    # Messages per second over all connections of one process; unset means unpaced.
    rate_per_second: float | None = Field(default=None, gt=0)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    # Each command or pipelined group of commands waits this long for its replies.
    command_timeout_seconds: float = Field(default=30.0, gt=0)
    # Sending the message body and waiting for the reply to the final dot.
    data_timeout_seconds: float = Field(default=120.0, gt=0)
    # A pooled connection idle for longer is closed rather than reused.
    idle_timeout_seconds: float = Field(default=30.0, gt=0)
    # The circuit breaker opens after this many consecutive connection-level
    # failures (refused, dropped, timed out, 421) and tries again after the cooldown.
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30.0, ge=0)

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {SMTPSecurity.none: 25, SMTPSecurity.starttls: 587, SMTPSecurity.tls: 465}[
            self.security
        ]


TransportName = Literal["outbox", "smtp", "ses", "postmark", "sendgrid", "mailgun"]


class ProviderAPISettings(BaseModel):
    """What every provider HTTP API transport shares: where it calls, how long it waits,
    how many requests it keeps in flight."""

    # Unset means the provider's public endpoint; tests and proxies set their own.
    base_url: str | None = None
    # Waiting for the provider's answer once the request is sent; past it the
    # message's fate is unknown, so keep it generous.
    timeout_seconds: float = Field(default=30.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # Requests in flight at once (and pooled connections) per sending process.
    max_concurrency: int = Field(default=16, ge=1, le=1000)
    # Consecutive batches the provider takes none of (connection errors, 429, 5xx)
    # before sending to it pauses for the cooldown.
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0)


class SESSettings(ProviderAPISettings):
    """Amazon SES through its v2 HTTP API (SendEmail with raw MIME)."""

    region: str = "us-east-1"
    # Unset keys fall back to botocore's own chain (environment, profile, instance
    # or pod role).
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    configuration_set: str | None = None
    # Ask SES to forward bounce and complaint mail to the message's VERP return
    # path, for `maily inbound` to read (the domain must be verified in SES).
    forward_feedback_to_return_path: bool = False


class PostmarkSettings(ProviderAPISettings):
    server_token: SecretStr | None = None
    # Postmark keeps bulk mail on broadcast streams, apart from transactional mail.
    message_stream: str = "broadcast"


class SendGridSettings(ProviderAPISettings):
    api_key: SecretStr | None = None


class MailgunSettings(ProviderAPISettings):
    api_key: SecretStr | None = None
    # The sending domain as set up in Mailgun (mg.example.com).
    domain: str | None = None
    # Which Mailgun region the domain lives in; picks the default base URL.
    region: Literal["us", "eu"] = "us"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MAILY_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Environment = Environment.development
    data_dir: Path = Path(".maily")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    api: APISettings = Field(default_factory=APISettings)
    roles: RoleSettings = Field(default_factory=RoleSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    sender: SenderSettings = Field(default_factory=SenderSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    templates: TemplateSettings = Field(default_factory=TemplateSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    smtp: SMTPSettings = Field(default_factory=SMTPSettings)
    # How outgoing mail leaves: the outbox keeps it for viewing instead of sending.
    transport: TransportName = "outbox"
    ses: SESSettings = Field(default_factory=SESSettings)
    postmark: PostmarkSettings = Field(default_factory=PostmarkSettings)
    sendgrid: SendGridSettings = Field(default_factory=SendGridSettings)
    mailgun: MailgunSettings = Field(default_factory=MailgunSettings)

    # Shorthands documented in the README: MAILY_DATABASE_URL and MAILY_REDIS_URL.
    database_url: str | None = None
    redis_url: str | None = None

    @model_validator(mode="after")
    def _apply_shorthands_and_refuse_default_secrets(self) -> Settings:
        if self.database_url and not self.database.url:
            self.database.url = self.database_url
        if self.redis_url and not self.redis.url:
            self.redis.url = self.redis_url
        if self.environment is not Environment.development:
            problems = []
            if self.security.secret_key.get_secret_value() == DEV_SECRET_KEY:
                problems.append("MAILY_SECURITY__SECRET_KEY")
            if any(
                k.get_secret_value() == DEV_ENCRYPTION_KEY for k in self.security.encryption_keys
            ):
                problems.append("MAILY_SECURITY__ENCRYPTION_KEYS")
            if len(self.security.secret_key.get_secret_value()) < 32:
                problems.append("MAILY_SECURITY__SECRET_KEY (at least 32 characters)")
            if problems:
                raise ValueError(
                    "refusing to start outside development mode with default or weak secrets: "
                    + ", ".join(problems)
                )
        return self

    @model_validator(mode="after")
    def _require_transport_credentials(self) -> Settings:
        # SES may take its keys from botocore's chain; the others have no such chain.
        required: dict[str, list[tuple[str, object]]] = {
            "postmark": [("MAILY_POSTMARK__SERVER_TOKEN", self.postmark.server_token)],
            "sendgrid": [("MAILY_SENDGRID__API_KEY", self.sendgrid.api_key)],
            "mailgun": [
                ("MAILY_MAILGUN__API_KEY", self.mailgun.api_key),
                ("MAILY_MAILGUN__DOMAIN", self.mailgun.domain),
            ],
        }
        names = [name for name, value in required.get(self.transport, []) if not value]
        if names:
            raise ValueError(
                f"MAILY_TRANSPORT is {self.transport}, which needs " + ", ".join(names)
            )
        return self

    @property
    def is_development(self) -> bool:
        return self.environment is Environment.development


@lru_cache
def get_settings() -> Settings:
    return Settings()
