"""The configuration file's schema. Unknown keys are errors everywhere.

Parsed once at start into immutable values; a reload builds a new snapshot.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

import msgspec


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = 4000
    max_body_bytes: int = 10 * 1024 * 1024
    # Seconds a client may take to send its request head (slow-loris guard).
    header_timeout: float = 10.0
    keepalive_timeout: float = 75.0


class PlacementRequirements(_Strict):
    """What a caller demands of the deployments that may see its data (routing.placement)."""

    regions: tuple[str, ...] | None = None  # residency: regions or segment prefixes ("eu")
    data_classes: tuple[str, ...] | None = None  # classes the data carries; each must be allowed
    environments: tuple[str, ...] | None = None  # on-prem | colo | cloud


class GrantSpec(_Strict):
    """What a principal may do (identity.rights). Deny by default: without a grant that
    covers a request, it is refused with a 403 naming what is missing."""

    models: tuple[str, ...]  # model or model-group names, "prefix/*", or "*"
    endpoints: tuple[Literal["chat", "messages", "embeddings", "models"], ...] = (
        "chat", "messages", "embeddings", "models",
    )
    max_tokens: int | None = None  # largest max_tokens a request may ask for
    data_classes: tuple[str, ...] | None = None  # data classes the caller may declare
    regions: tuple[str, ...] | None = None  # residency: deployments must be in these


class ClientKey(_Strict):
    """A client key listed in config: the embedded, config-only identity mode."""

    key: str
    name: str = "default"
    requirements: PlacementRequirements | None = None
    grants: tuple[GrantSpec, ...] = ()
    role: Literal["org_admin", "auditor", "viewer"] | None = None  # admin API access


class OidcIssuerConfig(_Strict):
    """An OpenID Connect issuer whose JWTs are accepted as bearer tokens (identity.oidc)."""

    issuer: str  # must equal the token's "iss"
    audience: str | tuple[str, ...]  # the token's "aud" must contain one of these
    jwks_url: str | None = None  # default: from {issuer}/.well-known/openid-configuration
    algorithms: tuple[str, ...] = ("RS256",)  # never "none"; HS* is refused (no shared secrets)
    leeway_s: float = 30.0  # clock skew allowed on exp/nbf/iat
    jwks_cache_s: float = 3600.0  # refetch the key set at most this often when kids are known
    min_refresh_interval_s: float = 10.0  # an unknown kid refetches at most this often
    org: str | None = None  # the organisation (by name) this issuer's users belong to
    subject_claim: str = "sub"
    email_claim: str = "email"
    name_claim: str = "name"
    teams_claim: str | None = "groups"
    team_map: dict[str, str] = {}  # claim value -> team name; unmapped values are ignored
    roles_claim: str | None = "roles"
    role_map: dict[str, Literal["org_admin", "auditor", "viewer"]] = {}  # claim value -> org role


class AuthConfig(_Strict):
    keys: tuple[ClientKey, ...] = ()
    oidc: tuple[OidcIssuerConfig, ...] = ()
    # The header an agent uses to present the credential of the user it acts for.
    on_behalf_of_header: str = "x-switchgear-on-behalf-of"


class StoreConfig(_Strict):
    """The durable store: identity, grants and the audit record (switchgear.store)."""

    url: str = "sqlite:///switchgear-data/switchgear.db"
    # Reload the identity snapshot at least this often (PostgreSQL NOTIFY and SQLite's
    # change counter trigger it at once; this is the safety net).
    refresh_interval_s: float = 5.0


class AuditConfig(_Strict):
    """The tamper-evident audit record (switchgear.audit)."""

    enabled: bool = True
    queue_max: int = 100_000  # entries waiting to be written; beyond it, see on_full
    on_full: Literal["reject", "drop"] = "reject"  # reject: 503 new requests until it drains
    batch_max: int = 2_000  # entries per write transaction
    flush_interval_ms: float = 200.0  # how long an entry may wait in memory before it is written
    checkpoint_every: int = 10_000  # sign the chain head after this many entries …
    checkpoint_interval_s: float = 60.0  # … or this many seconds, whichever comes first
    signing_key_file: str = "switchgear-data/audit-signing-key.pem"  # Ed25519, created if missing
    jsonl_file: str | None = None  # also append every entry to this JSONL file


class Timeouts(_Strict):
    connect: float = 10.0
    first_token: float = 120.0  # time to the first response byte (and first event when streaming)
    idle: float = 120.0  # longest silence between stream chunks
    total: float = 900.0


class SimulatorSettings(_Strict):
    """Knobs of the built-in simulator (see switchgear.simulator)."""

    latency_ms: float = 0.0
    first_token_ms: float = 0.0
    tokens_per_second: float = 0.0
    reply_tokens: int = 24
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after_s: float = 1.0
    drop_stream_rate: float = 0.0
    seed: int = 0
    context_window: int = 128_000  # prompts above this get the vendor's context-window error


class HealthCheckConfig(_Strict):
    """Active health checks (routing.active_health): a cheap model-list request every
    ``interval_s``; its outcome feeds the deployment's circuit breaker."""

    interval_s: float = 10.0
    timeout_s: float = 5.0


class ProviderConfig(_Strict):
    name: str
    vendor: str
    base_url: str | None = None  # default from the catalog
    api_key: str | None = None
    headers: dict[str, str] = {}
    timeouts: Timeouts = Timeouts()
    max_connections: int = 256
    # Policy for canonical parameters the vendor cannot honour, and for unknown fields.
    unsupported_params: Literal["reject", "drop"] | None = None
    extra_params: Literal["reject", "drop", "pass"] | None = None
    # Azure OpenAI
    api_version: str | None = None
    # AWS Bedrock
    region: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    # Anthropic requires max_tokens; used when a client did not send one.
    default_max_tokens: int | None = None
    # The simulator vendor: which wire format it speaks, and its behaviour.
    format: Literal["openai_chat", "anthropic_messages", "gemini", "bedrock_converse"] | None = None
    simulator: SimulatorSettings | None = None
    # Active health checks for every deployment of this provider (a deployment may override).
    health_check: HealthCheckConfig | None = None


class TimeoutOverrides(_Strict):
    """Per-deployment timeouts; an unset one keeps the provider's."""

    connect: float | None = None
    first_token: float | None = None
    idle: float | None = None
    total: float | None = None


class PlacementTags(_Strict):
    """Where a deployment runs and what data it may receive (routing.placement)."""

    environment: str | None = None  # on-prem | colo | cloud
    region: str | None = None  # e.g. eu-west-1
    data_classes: tuple[str, ...] | None = None


class PriceConfig(_Strict):
    """USD per million tokens; used by the lowest_cost strategy until the price catalog exists."""

    input_per_mtok: float
    output_per_mtok: float


class DeploymentConfig(_Strict):
    provider: str
    model: str
    weight: float = 1.0  # strategy "weighted"; 0 = standby (only as a fallback)
    tags: PlacementTags | None = None
    timeouts: TimeoutOverrides | None = None
    price: PriceConfig | None = None
    health_check: HealthCheckConfig | None = None  # off unless set here or on the provider


class RetryConfig(_Strict):
    """Extra sends to the *same* deployment before moving to the next candidate."""

    attempts: int = 0
    backoff_base_ms: float = 100.0
    backoff_cap_ms: float = 2000.0
    max_retry_after_s: float = 10.0  # a longer Retry-After: fall back instead of waiting


class FallbacksConfig(_Strict):
    """Other models to try, by the error class that exhausted this model's deployments."""

    rate_limited: tuple[str, ...] = ()
    server_error: tuple[str, ...] = ()
    timeout: tuple[str, ...] = ()
    context_window: tuple[str, ...] = ()
    content_filtered: tuple[str, ...] = ()


class BreakerConfig(_Strict):
    """Circuit-breaker policy overrides (routing.breaker.BreakerPolicy; same defaults)."""

    consecutive_failures: int = 5
    failure_rate: float | None = 0.5
    min_requests: int = 20
    window_seconds: float = 10.0
    buckets: int = 10
    open_seconds: float = 5.0
    open_backoff: float = 2.0
    max_open_seconds: float = 60.0
    half_open_probes: int = 1
    close_after: int = 1
    probe_timeout: float = 60.0


class HedgeConfig(_Strict):
    """Hedging (streams and unary): when no first byte has gone out within the delay, race
    the next candidate; the first to answer wins, the other is cancelled."""

    delay_ms: float | None = None  # fixed delay; with use_p95, the delay until p95 is known
    use_p95: bool = False  # delay = the first candidate's observed p95 time to first token
    max_extra: int = 1  # extra concurrent attempts per request
    # This model's hedge budget: extra requests <= ratio * requests + min_per_second * 10 s.
    budget_ratio: float = 0.1
    budget_min_per_second: float = 0.5


class ModelCacheConfig(_Strict):
    """Exact-match response caching for this model (switchgear.cache); off unless set."""

    ttl_s: float = 300.0


Strategy = Literal["priority", "weighted", "least_latency", "least_busy", "lowest_cost"]


class ModelConfig(_Strict):
    name: str
    deployments: tuple[DeploymentConfig, ...]
    kind: Literal["chat", "embeddings"] = "chat"
    description: str | None = None
    strategy: Strategy = "priority"
    retries: RetryConfig = RetryConfig()
    fallbacks: FallbacksConfig = FallbacksConfig()
    breaker: BreakerConfig | None = None
    hedge: HedgeConfig | None = None
    cache: ModelCacheConfig | None = None


class Scope(_Strict):
    """Who or what a budget or rate limit applies to: exactly one field is set. A name
    matches that one principal/team/model; "*" gives *each* one its own counter."""

    key: str | None = None  # an API key's visible prefix (or a config key's name)
    user: str | None = None
    service_account: str | None = None
    team: str | None = None
    agent: str | None = None
    org: str | None = None
    model: str | None = None  # a configured model (or model group) name
    deployment: str | None = None  # "provider/model": a provider quota (rate limits only)


class BudgetConfig(_Strict):
    name: str
    scope: Scope
    period: Literal["daily", "weekly", "monthly", "lifetime"]
    limit_usd: float  # hard: a request whose worst case would cross it is refused
    soft_thresholds: tuple[float, ...] = (0.8,)  # fractions of the limit that alert once per period


class RateLimitConfig(_Strict):
    name: str
    scope: Scope
    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # tokens per minute (reserved at the estimate, corrected to actual)
    concurrent: int | None = None  # requests in flight


class LimitsConfig(_Strict):
    """Budgets and rate limits (switchgear.limits)."""

    backend: Literal["memory", "redis"] = "memory"  # redis: shared by every gateway process
    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "switchgear:"
    # Redis unreachable: "closed" refuses requests that a budget or limit applies to (503);
    # "open" admits them against this process's own in-memory limits until Redis is back.
    on_backend_error: Literal["closed", "open"] = "closed"
    backend_timeout_ms: float = 250.0
    # A reservation not settled within this many seconds is released (its process died).
    # Keep it above the longest request (the providers' total timeout).
    reservation_ttl_s: float = 960.0
    timezone: str = "UTC"  # calendar periods (daily/weekly/monthly) start at midnight here
    alert_webhook: str | None = None  # soft-threshold alerts are POSTed here (and logged)
    budgets: tuple[BudgetConfig, ...] = ()
    rate_limits: tuple[RateLimitConfig, ...] = ()


class PriceEntry(_Strict, kw_only=True):
    """A price catalog entry added or overridden in config (switchgear.pricing)."""

    model: str  # the upstream model id (as sent to the provider)
    vendor: str | None = None  # catalog vendor; None: any vendor serving this model id
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None  # default: the input price
    reasoning_per_mtok: float | None = None  # default: the output price
    max_output_tokens: int | None = None  # the model's output ceiling (worst case without max_tokens)
    effective: datetime.date | None = None  # the date from which this price applies


class PricingConfig(_Strict):
    prices: tuple[PriceEntry, ...] = ()


class CacheConfig(_Strict):
    """The response cache's store (switchgear.cache); models opt in with ``cache:``."""

    backend: Literal["memory", "redis"] = "memory"  # redis: limits.redis_url, shared
    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    max_entry_bytes: int = 1024 * 1024  # larger answers are not cached
    # Who may be served an answer cached for someone else: "caller" (the same principal),
    # "org" (anyone in the same organisation) or "all" (shared by everyone: only for
    # public, non-personal prompts).
    share: Literal["caller", "org", "all"] = "caller"


class Config(_Strict):
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    # None: config-only identity mode (keys from auth.keys, no admin API, no audit store).
    store: StoreConfig | None = None
    audit: AuditConfig = AuditConfig()
    limits: LimitsConfig = LimitsConfig()
    pricing: PricingConfig = PricingConfig()
    cache: CacheConfig = CacheConfig()
    providers: tuple[ProviderConfig, ...] = ()
    models: tuple[ModelConfig, ...] = ()
    # Where this config came from (a path, or "embedded defaults"); not a YAML key.
    source: str = "embedded defaults"

    def to_builtins(self) -> Any:
        return msgspec.to_builtins(self)
