"""One immutable snapshot of everything a request needs, built from a Config.

A config reload builds a new Runtime and swaps it in atomically; requests in
flight keep the snapshot they started with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from functools import partial
from types import ModuleType
from urllib.parse import urlsplit

import msgspec

from switchgear.config.load import ConfigError
from switchgear.config.schema import Config, DeploymentConfig, ModelConfig, ProviderConfig
from switchgear.limits.plan import LimitsPlan
from switchgear.pricing.catalog import PriceCatalog
from switchgear.services import Services, config_only
from switchgear.stages.quota import Quotas
from switchgear.stages.authenticate import Authenticate, AuthenticateLive
from switchgear.providers.catalog import Vendor, auth_headers, load_catalog
from switchgear.providers.formats import anthropic_messages, bedrock_converse, gemini, openai_chat
from switchgear.providers.formats.base import Target
from switchgear.routing.breaker import BreakerPolicy, CircuitBreaker
from switchgear.routing.health import HealthRegistry
from switchgear.identity.config_keys import config_key_table
from switchgear.routing.placement import PlacementTags
from switchgear.routing.retry import HedgeBudget, RetryBudget
from switchgear.routing.strategies import STRATEGIES, Price, StrategyData
from switchgear.routing.table import Deployment, HedgePolicy, ModelRoute, RetryPolicy, RouteTable
from switchgear.telemetry.metrics import Metrics
from switchgear.transport.client import UpstreamPool

FORMATS: dict[str, ModuleType] = {
    "openai_chat": openai_chat,
    "anthropic_messages": anthropic_messages,
    "gemini": gemini,
    "bedrock_converse": bedrock_converse,
}


@dataclass(frozen=True, slots=True)
class Runtime:
    config: Config
    services: Services  # store, identity directory, OIDC, audit: shared across reloads
    authenticate: Authenticate  # the stage, built once for every chain
    routes: RouteTable
    pools: tuple[UpstreamPool, ...]
    metrics: Metrics
    # Live routing state, per deployment name; carried over by name across reloads.
    health: HealthRegistry
    breakers: dict[str, CircuitBreaker]
    retry_budget: RetryBudget
    catalog: PriceCatalog  # prices (bundled + config) for metering and worst cases
    limits_plan: LimitsPlan  # which budgets and rate limits apply to whom
    quotas: Any = None  # stages.quota.Quotas: deployment quotas, checked per attempt

    def reachable(self, route: ModelRoute) -> tuple[Deployment, ...]:
        """Every deployment that may answer a request for ``route``: its own, then its
        fallback models' (transitively). The worst case of a request is priced over these."""
        out: list[Deployment] = []
        seen: set[str] = set()
        queue = [route]
        while queue:
            r = queue.pop(0)
            if r.name in seen:
                continue
            seen.add(r.name)
            out.extend(d for d in r.deployments if d not in out)
            for names in r.fallbacks.values():
                queue.extend(self.routes.exact[n] for n in names if n in self.routes.exact)
        return tuple(out)

    def name_of(self, kind: str, id_: str) -> str | None:
        """A team's or organisation's name, for budget and rate-limit scopes."""
        t = self.services.directory.tables
        if kind == "team":
            return t.team_names.get(id_)
        if kind == "org":
            return t.org_names.get(id_)
        return None

    async def aclose(self) -> None:
        for pool in self.pools:
            await pool.aclose()


def provider_format(p: ProviderConfig, vendor: Vendor) -> str:
    return p.format or vendor.format if p.vendor == "simulator" else vendor.format


# The simulator speaks a format the way that format's reference vendor does
# (auth header, version headers), except that it never needs AWS signing.
_SIMULATED = {"openai_chat": "openai", "anthropic_messages": "anthropic", "gemini": "gemini", "bedrock_converse": "bedrock"}


def effective_vendor(p: ProviderConfig) -> Vendor:
    catalog = load_catalog()
    vendor = catalog[p.vendor]
    if p.vendor != "simulator":
        return vendor
    ref = catalog[_SIMULATED[provider_format(p, vendor)]]
    return msgspec.structs.replace(
        ref, id="simulator", base_url=None, renames={}, auth="none" if ref.auth == "sigv4" else ref.auth
    )


def _target(p: ProviderConfig, vendor: Vendor, model: str) -> Target:
    base_url = (p.base_url or vendor.base_url or "").rstrip("/")
    if "{region}" in base_url:
        base_url = base_url.replace("{region}", p.region or "")
    headers = (*auth_headers(vendor.auth, p.api_key), *vendor.headers.items(), *p.headers.items())
    options: dict[str, object] = {}
    if p.api_version:
        options["api_version"] = p.api_version
    if p.region:
        options["region"] = p.region
    if p.default_max_tokens:
        options["default_max_tokens"] = p.default_max_tokens
    return Target(
        provider=p.name,
        vendor=p.vendor,
        format=provider_format(p, vendor),
        base_url=base_url,
        model=model,
        headers=tuple((k.lower(), v) for k, v in headers),
        unsupported_params=p.unsupported_params or vendor.unsupported_params,
        extra_params=p.extra_params or vendor.extra_params,
        renames=tuple(vendor.renames.items()),
        unsupported=vendor.unsupported,
        options=options,
    )


def _signer(p: ProviderConfig, target: Target):  # -> callable | None
    if effective_vendor(p).auth != "sigv4":
        return None
    from botocore.credentials import Credentials
    from botocore.session import get_session

    from switchgear.providers.sigv4 import sign_request

    if p.aws_access_key_id and p.aws_secret_access_key:
        creds = Credentials(p.aws_access_key_id, p.aws_secret_access_key, p.aws_session_token)
    else:  # the standard AWS chain: env, profile, instance role …
        creds = get_session().get_credentials()
        if creds is None:
            raise ConfigError([
                f"provider '{p.name}': no AWS credentials found (set aws_access_key_id and aws_secret_access_key, "
                "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or an AWS profile)"
            ])
    host = urlsplit(target.base_url).netloc
    return partial(sign_request, target=target, host=host, credentials=creds)


def _tags(d: DeploymentConfig) -> PlacementTags | None:
    t = d.tags
    if t is None:
        return None
    return PlacementTags(
        environment=t.environment,
        region=t.region,
        data_classes=None if t.data_classes is None else frozenset(t.data_classes),
    )


def _timeouts(p: ProviderConfig, d: DeploymentConfig) -> tuple[float, float, float, float]:
    base, o = p.timeouts, d.timeouts
    if o is None:
        return base.connect, base.first_token, base.idle, base.total
    return (
        o.connect if o.connect is not None else base.connect,
        o.first_token if o.first_token is not None else base.first_token,
        o.idle if o.idle is not None else base.idle,
        o.total if o.total is not None else base.total,
    )


def _hedge(m: ModelConfig, previous: Runtime | None) -> HedgePolicy | None:
    """The model's hedging policy; its budget carries over a reload that keeps the policy."""
    h = m.hedge
    if h is None:
        return None
    old = previous.routes.exact.get(m.name) if previous is not None else None
    old_h = old.hedge if old is not None else None
    if old_h is not None and (old_h.budget_ratio, old_h.budget_min_per_second) == (h.budget_ratio, h.budget_min_per_second):
        budget = old_h.budget
    else:
        budget = HedgeBudget(ratio=h.budget_ratio, min_per_second=h.budget_min_per_second)
    return HedgePolicy(
        delay=None if h.delay_ms is None else h.delay_ms / 1000.0,
        use_p95=h.use_p95,
        max_extra=h.max_extra,
        budget=budget,
        budget_ratio=h.budget_ratio,
        budget_min_per_second=h.budget_min_per_second,
    )


def _route(m: ModelConfig, deps: list[Deployment], health: HealthRegistry, previous: Runtime | None = None) -> ModelRoute:
    data = StrategyData(
        weights={d.name: d.weight for d in deps},
        health=health,
        prices={d.name: d.price for d in deps if d.price is not None},
    )
    r = m.retries
    retry = RetryPolicy(
        attempts=r.attempts,
        backoff_base=r.backoff_base_ms / 1000.0,
        backoff_cap=r.backoff_cap_ms / 1000.0,
        max_retry_after=r.max_retry_after_s,
    )
    fallbacks = {cls: names for cls, names in msgspec.structs.asdict(m.fallbacks).items() if names}
    return ModelRoute(
        name=m.name,
        kind=m.kind,
        deployments=tuple(deps),
        strategy_name=m.strategy,
        strategy=None if m.strategy == "priority" else STRATEGIES[m.strategy],
        data=data,
        retry=retry,
        fallbacks=fallbacks,
        hedge=_hedge(m, previous),
    )


def _breakers(cfg: Config, previous: Runtime | None) -> dict[str, CircuitBreaker]:
    """One breaker per deployment name; the first model listing it with a policy sets it.

    A breaker whose policy is unchanged keeps its state across a reload."""
    default = BreakerPolicy()
    policies: dict[str, BreakerPolicy] = {}
    for m in cfg.models:
        if m.breaker is None:
            continue
        policy = BreakerPolicy(**msgspec.structs.asdict(m.breaker))
        for d in m.deployments:
            policies.setdefault(f"{d.provider}/{d.model}", policy)
    for m in cfg.models:
        for d in m.deployments:
            policies.setdefault(f"{d.provider}/{d.model}", default)
    old = previous.breakers if previous is not None else {}
    out: dict[str, CircuitBreaker] = {}
    for name, policy in policies.items():
        b = old.get(name)
        out[name] = b if b is not None and b.policy == policy else CircuitBreaker(policy)
    return out


def build_runtime(
    cfg: Config, metrics: Metrics | None = None, previous: Runtime | None = None, services: Services | None = None
) -> Runtime:
    """``previous``: the runtime being replaced; its health, breakers and retry budget carry over.
    ``services``: the process's store, directory and audit writer (default: config-only)."""
    # One pool per provider and connect timeout: the connect timeout belongs to the pool, so
    # a deployment that overrides it gets a pool of its own.
    pools: dict[tuple[str, float], UpstreamPool] = {}
    providers = {p.name: p for p in cfg.providers}

    def pool_for(p: ProviderConfig, connect: float) -> UpstreamPool:
        pool = pools.get((p.name, connect))
        if pool is None:
            vendor = effective_vendor(p)
            base = (p.base_url or vendor.base_url or "").rstrip("/").replace("{region}", p.region or "")
            pool = pools[(p.name, connect)] = UpstreamPool(
                base, max_connections=p.max_connections, connect_timeout=connect
            )
        return pool

    for p in cfg.providers:  # every provider has its default pool, used or not
        pool_for(p, p.timeouts.connect)
    routes: list[ModelRoute] = []
    wildcards: list[tuple[str, ModelRoute]] = []
    health = HealthRegistry.for_names(
        (f"{d.provider}/{d.model}" for m in cfg.models for d in m.deployments),
        previous=previous.health if previous is not None else None,
    )
    for m in cfg.models:
        deps = []
        for d in m.deployments:
            p = providers[d.provider]
            vendor = effective_vendor(p)
            target = _target(p, vendor, d.model)
            name = f"{p.name}/{d.model}"
            connect, first_token, idle, total = _timeouts(p, d)
            deps.append(
                Deployment(
                    name=name,
                    provider=p.name,
                    target=target,
                    fmt=FORMATS[target.format],
                    pool=pool_for(p, connect),
                    connect_timeout=connect,
                    first_token_timeout=first_token,
                    idle_timeout=idle,
                    total_timeout=total,
                    signer=_signer(p, target),
                    headers=(("x-switchgear-deployment", name), ("x-switchgear-provider", p.name)),
                    tags=_tags(d),
                    weight=d.weight,
                    price=Price(d.price.input_per_mtok, d.price.output_per_mtok) if d.price is not None else None,
                )
            )
        route = _route(m, deps, health, previous)
        if m.name.endswith("/*"):
            wildcards.append((m.name[:-1], route))
        else:
            routes.append(route)
    if services is None:
        services = previous.services if previous is not None else config_only(cfg)
    plan = LimitsPlan(cfg.limits)
    quotas = Quotas(plan, services.limits, cfg.limits.reservation_ttl_s) if (
        plan.deployment_rates and services.limits is not None) else None
    if quotas is not None:
        services.limit_stages.append(quotas)  # its settlements are drained on shutdown
    else:  # a reload: the config's own keys may have changed
        services.directory.config_keys = config_key_table(cfg.auth.keys)
    auth_cls = AuthenticateLive if services.live else Authenticate
    return Runtime(
        config=cfg,
        services=services,
        authenticate=auth_cls(services.directory, services.oidc, cfg.auth.on_behalf_of_header),
        routes=RouteTable(routes, wildcards),
        pools=tuple(pools.values()),
        metrics=metrics or Metrics(),
        health=health,
        breakers=_breakers(cfg, previous),
        retry_budget=previous.retry_budget if previous is not None else RetryBudget(),
        catalog=PriceCatalog.build(cfg.pricing, cfg.source),
        limits_plan=plan,
        quotas=quotas,
    )
