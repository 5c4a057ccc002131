"""Settings: one pydantic-settings class, `MAILY_` prefix, nested groups, `.env` support."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
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
    # The built web app (static export) served at `/`; default: the checkout's web/out.
    web_dir: Path | None = None

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

    # The consumer (`maily analytics`): entries read per batch, and how long a read
    # waits for new ones. One batch is one transaction, acknowledged after commit.
    batch_size: int = Field(default=500, ge=1, le=10_000)
    block_ms: int = Field(default=1000, ge=1)
    # Entries another consumer read but has not acknowledged for this long belong to a
    # dead one: they are claimed (XAUTOCLAIM) and processed again, which is harmless.
    claim_idle_seconds: float = Field(default=60.0, gt=0)
    claim_interval_seconds: float = Field(default=10.0, gt=0)
    # How often the stream is trimmed below what every consumer group has acknowledged.
    trim_interval_seconds: float = Field(default=10.0, gt=0)
    # This process's name in the group; unset means host name and process id.
    consumer_name: str | None = None

    # Timing-based machine detection: an open this soon after the message was sent is a
    # prefetch; a click this soon is a security scanner, and so is a click on another
    # link of the same message within `scanner_burst_seconds` of an earlier one.
    prefetch_open_seconds: float = Field(default=5.0, ge=0)
    scanner_click_seconds: float = Field(default=10.0, ge=0)
    scanner_burst_seconds: float = Field(default=2.0, ge=0)

    # The deliverability guard pauses a sending campaign whose complaint or hard-bounce
    # rate reaches these (Gmail and Yahoo's bulk-sender rules: complaints under 0.3%),
    # once at least `guard_min_sent` messages of it have gone out.
    complaint_rate_threshold: float = Field(default=0.003, gt=0, le=1)
    bounce_rate_threshold: float = Field(default=0.05, gt=0, le=1)
    guard_min_sent: int = Field(default=500, ge=1)
    # From address of the notice the workspace owner gets when a campaign is paused;
    # unset means `maily@<host of api.public_url>`.
    notice_from: str | None = None


class TrackingSettings(BaseModel):
    """The public tracking endpoints: open pixel, click redirect, unsubscribe,
    preference center, view online (see docs/tracking.md)."""

    # Where `maily tracking` listens; `maily api` and `maily up` serve the same paths
    # on the API port too.
    host: str = "127.0.0.1"
    port: int = Field(default=8010, ge=0, le=65535)
    # Redis keys of link tables are `<prefix><table id hex>` (no TTL).
    link_table_key_prefix: str = "maily:links:"
    # Link tables kept in each process (one per template a campaign sends).
    link_cache_size: int = Field(default=4096, ge=1)
    # Events appended to the stream in one round trip at most; a batch goes out on
    # the next turn of the event loop, or when full, once a round trip is free.
    batch_max_events: int = Field(default=256, ge=1, le=10_000)
    # Batches (and connections) on their way to Redis at once; further events wait for
    # the next batch, so batches grow with load rather than round trips.
    batch_max_in_flight: int = Field(default=2, ge=1, le=64)
    # Open and click events answered before Redis acknowledged them, at most: beyond
    # that a request waits for its own event (so a slow or absent Redis holds requests
    # back instead of filling memory). 0: every open and click waits for Redis.
    max_unacknowledged_events: int = Field(default=50_000, ge=0, le=10_000_000)
    # How long an open or click event that Redis did not take is sent again before it
    # is counted lost (a Redis restart or failover fits well inside).
    retry_seconds: float = Field(default=30.0, ge=0, le=3600)
    # How long one round trip waits for Redis (connect or answer); an open or click
    # waiting for its event then counts it lost, an unsubscribe answers 503.
    redis_timeout_seconds: float = Field(default=1.0, gt=0)
    # Redis connections of one tracking process.
    redis_max_connections: int = Field(default=32, ge=1)
    # Addresses or CIDR networks of the proxies in front of `maily tracking` whose
    # X-Forwarded-For is believed (its last entry is taken as the client's address).
    # Empty: none.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or CIDR network (like 10.0.0.0/8)"
                ) from None
        return value

    # A TOML file of extra machine rules (same shape as the built-in
    # maily/tracking/machines.toml), added to the built-in ones.
    machine_rules_file: Path | None = None
    # `/t/bare`: the pixel without a token or an event, to compare the real
    # endpoints against (benchmarks only).
    bare_endpoint: bool = False


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


class WebhookSettings(BaseModel):
    """Outbound webhooks: where they may go, how they are signed, retried and dropped."""

    # Plain http:// endpoints; for development and tests only.
    allow_http: bool = False
    # Lets endpoints reach private, loopback and link-local addresses. Only for tests
    # with a local receiver: refused outside development and test mode.
    allow_private_addresses: bool = False
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0)
    dns_timeout_seconds: float = Field(default=3.0, gt=0)
    # Attempts per event before it is given up (the first included).
    max_attempts: int = Field(default=12, ge=1, le=50)
    retry_base_seconds: float = Field(default=30.0, gt=0)
    retry_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    # An endpoint failing this many attempts in a row, with no success between, is disabled.
    disable_after_failures: int = Field(default=25, ge=1)
    max_endpoints_per_workspace: int = Field(default=20, ge=1)
    # Settled deliveries (and their attempts) older than this leave the log, nightly.
    log_retention_days: int = Field(default=30, ge=1)
    # Receivers should refuse signatures older than this (documented, used by `verify`).
    signature_tolerance_seconds: int = Field(default=300, ge=1)
    # The dispatcher's consumer group on the event stream (`analytics.stream_key`).
    consumer_group: str = "webhooks"
    batch_size: int = Field(default=200, ge=1, le=5000)
    block_milliseconds: int = Field(default=1000, ge=1)
    # Entries a consumer read and never acknowledged for this long are taken over.
    claim_idle_seconds: float = Field(default=60.0, gt=0)


class RealtimeSettings(BaseModel):
    """The live WebSocket: tickets and how much a slow socket may fall behind."""

    ticket_ttl_seconds: int = Field(default=30, ge=1, le=600)
    # Messages queued per socket; past it messages for that socket are dropped.
    socket_queue_size: int = Field(default=256, ge=1)
    # A socket that has had this many messages dropped is closed (1013, try again later).
    max_dropped_messages: int = Field(default=256, ge=1)
    # Sockets are closed (4401) when their access token expires, and at the latest after
    # this long, so that a removed member or a revoked key loses the feed.
    max_socket_seconds: int = Field(default=3600, ge=1)


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
    # SNS topics whose notifications (and subscription confirmations) the webhook
    # accepts; empty turns the SES webhook off. See docs/bounces.md.
    sns_topic_arns: list[str] = Field(default_factory=list)
    # Hosts a SigningCertURL may name (a full match); SNS's own by default.
    sns_certificate_host_pattern: str = r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"
    # Certificates are fetched over HTTPS only; a private CA (a test's local
    # server) may be given as a PEM file.
    sns_certificate_ca_file: Path | None = None


class PostmarkSettings(ProviderAPISettings):
    server_token: SecretStr | None = None
    # Postmark keeps bulk mail on broadcast streams, apart from transactional mail.
    message_stream: str = "broadcast"
    # Postmark signs nothing: its webhook URL carries HTTP basic auth credentials
    # (https://user:password@host/...). Unset turns the Postmark webhook off.
    webhook_username: str | None = None
    webhook_password: SecretStr | None = None


class SendGridSettings(ProviderAPISettings):
    api_key: SecretStr | None = None
    # The Event Webhook's verification key (base64 DER or PEM of an ECDSA P-256
    # public key, from Mail Settings). Unset turns the SendGrid webhook off.
    webhook_public_key: str | None = None


class MailgunSettings(ProviderAPISettings):
    api_key: SecretStr | None = None
    # The sending domain as set up in Mailgun (mg.example.com).
    domain: str | None = None
    # Which Mailgun region the domain lives in; picks the default base URL.
    region: Literal["us", "eu"] = "us"
    # The HTTP webhook signing key (Sending > Webhooks). Unset turns the Mailgun
    # webhook off.
    webhook_signing_key: SecretStr | None = None


class BounceSettings(BaseModel):
    """What bounces and complaints do to an address (see docs/bounces.md)."""

    # This many soft bounces of one address within the window suppress it ('cleaned').
    soft_bounce_limit: int = Field(default=3, ge=1)
    soft_bounce_window_days: float = Field(default=30.0, gt=0)
    # A provider webhook older than this (by its signed timestamp) is refused; the
    # ids of accepted ones are remembered for twice as long, so a replay is refused too.
    webhook_max_age_seconds: int = Field(default=900, ge=1)
    # SNS and Postmark stamp the event itself, not each (re)delivery of it, and retry
    # for hours: their notifications may be this old.
    event_max_age_seconds: int = Field(default=6 * 3600, ge=1)
    # SNS signing certificates kept in memory, and for how long.
    certificate_cache_seconds: int = Field(default=86400, ge=0)


class InboundSettings(BaseModel):
    """`maily inbound`: the SMTP server bounce and complaint mail comes back to."""

    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, le=65535)
    # The name announced in the greeting; unset means this host's name.
    hostname: str | None = None
    # Larger mail is refused at DATA (a DSN with the whole original can be big).
    max_message_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Extra local parts accepted besides the VERP return path, e.g. ["fbl", "abuse"]
    # for feedback-loop reports sent to fbl@<return-path domain>.
    feedback_local_parts: list[str] = Field(default_factory=lambda: ["fbl", "abuse"])


class AIProviderSettings(BaseModel):
    """Where workspaces' AI model providers may be, and how each call to one is bounded."""

    # Base URLs on loopback (a local Ollama, vLLM or LM Studio). Unset: allowed in
    # development only.
    allow_loopback: bool | None = None
    # Base URLs on private, link-local and other non-public addresses (a model server on
    # the local network), loopback included. Off by default: a workspace must not be able
    # to reach the operator's internal services through the test call.
    allow_private_addresses: bool = False
    dns_timeout_seconds: float = Field(default=3.0, gt=0)
    # Retries of one provider (rate limits, 5xx, dropped connections) before the next
    # provider in the workspace's fallback order is asked.
    max_retries: int = Field(default=1, ge=0, le=10)
    max_providers_per_workspace: int = Field(default=10, ge=1, le=100)
    # The provider test call's budget (`POST .../ai/providers/{id}/test`).
    test_max_tokens: int = Field(default=16, ge=1, le=1000)


class SpamdSettings(BaseModel):
    """SpamAssassin's daemon, which scores content checks (see docs/insights.md)."""

    host: str = "127.0.0.1"
    port: int = Field(default=783, ge=1, le=65535)
    # A check that takes longer answers without its SpamAssassin part.
    timeout_seconds: float = Field(default=10.0, gt=0)


class AISettings(BaseModel):
    """`maily ai` (the AI service over gRPC) and the API's client of it (see docs/ai.md)."""

    # Where `maily ai` listens.
    host: str = "127.0.0.1"
    port: int = Field(default=50051, ge=0, le=65535)
    # The address the API dials (host:port, or any gRPC target such as dns:///ai:50051);
    # unset means host and port above.
    target: str | None = None
    # Longest one AI call may take, end to end; the server sees what is left of it.
    deadline_seconds: float = Field(default=120.0, gt=0)
    # How long the client waits for a connection before it counts a try as failed.
    connect_timeout_seconds: float = Field(default=1.0, gt=0)
    # Retries of a call the service refused as UNAVAILABLE before its first event
    # (a task that has streamed anything is never run again), with full-jitter backoff.
    retries: int = Field(default=2, ge=0, le=10)
    retry_base_seconds: float = Field(default=0.2, gt=0)
    retry_max_seconds: float = Field(default=2.0, gt=0)
    # Failed calls in a row that open the client's breaker, and how long it stays open
    # (calls fail at once) before one trial call goes through.
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=15.0, gt=0)
    # Tasks one `maily ai` process runs at once; more are refused (RESOURCE_EXHAUSTED).
    max_concurrent_tasks: int = Field(default=16, ge=1, le=1000)
    # On SIGTERM, running tasks get this long to finish before they are cancelled.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    @property
    def dial_target(self) -> str:
        return self.target or f"{self.host}:{self.port}"


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
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    templates: TemplateSettings = Field(default_factory=TemplateSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    smtp: SMTPSettings = Field(default_factory=SMTPSettings)
    # How outgoing mail leaves: the outbox keeps it for viewing instead of sending.
    transport: TransportName = "outbox"
    ses: SESSettings = Field(default_factory=SESSettings)
    postmark: PostmarkSettings = Field(default_factory=PostmarkSettings)
    sendgrid: SendGridSettings = Field(default_factory=SendGridSettings)
    mailgun: MailgunSettings = Field(default_factory=MailgunSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    bounces: BounceSettings = Field(default_factory=BounceSettings)
    inbound: InboundSettings = Field(default_factory=InboundSettings)
    ai_providers: AIProviderSettings = Field(default_factory=AIProviderSettings)
    spamd: SpamdSettings = Field(default_factory=SpamdSettings)
    ai: AISettings = Field(default_factory=AISettings)

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

    @model_validator(mode="after")
    def _refuse_private_webhooks_in_production(self) -> Settings:
        if self.webhooks.allow_private_addresses and self.environment is Environment.production:
            raise ValueError(
                "MAILY_WEBHOOKS__ALLOW_PRIVATE_ADDRESSES is for tests with a local receiver; "
                "it is refused in production"
            )
        return self

    @property
    def is_development(self) -> bool:
        return self.environment is Environment.development


@lru_cache
def get_settings() -> Settings:
    return Settings()
