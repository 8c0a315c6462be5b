"""Model names to ordered candidate deployments: a pure function of config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from switchgear.providers.formats.base import Target
from switchgear.routing.placement import PlacementTags
from switchgear.routing.strategies import Price, Strategy, StrategyData


@dataclass(frozen=True, slots=True)
class Deployment:
    """One (provider, upstream model) pair, ready to call: built once per config."""

    name: str  # "provider/model", shown in headers and metrics
    provider: str
    target: Target
    fmt: Any  # the wire-format module (providers.formats.*)
    pool: Any  # transport.client.UpstreamPool for the provider's origin
    connect_timeout: float
    first_token_timeout: float
    idle_timeout: float
    total_timeout: float
    signer: Any = None  # callable(UpstreamRequest) -> UpstreamRequest, for SigV4
    # Response headers naming this deployment, pre-built once.
    headers: tuple[tuple[str, str], ...] = field(default=())
    tags: PlacementTags | None = None  # placement: None = untagged (fails every requirement)
    weight: float = 1.0
    price: Price | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Extra sends to the same deployment (seconds, parsed from the model's ``retries``)."""

    attempts: int = 0
    backoff_base: float = 0.1
    backoff_cap: float = 2.0
    max_retry_after: float = 10.0


NO_RETRY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class HedgePolicy:
    """A model's hedging (seconds, parsed from the model's ``hedge``); ``budget`` is the
    model's live routing.retry.HedgeBudget, carried over by a reload that keeps the policy."""

    delay: float | None  # fixed delay; None: only the observed p95 (no hedge until known)
    use_p95: bool
    max_extra: int
    budget: Any  # routing.retry.HedgeBudget
    budget_ratio: float = 0.1
    budget_min_per_second: float = 0.5


@dataclass(frozen=True, slots=True)
class ModelRoute:
    name: str  # the client-facing model name
    kind: Literal["chat", "embeddings"]
    deployments: tuple[Deployment, ...]
    strategy_name: str = "priority"
    strategy: Strategy | None = None  # None: priority (config order, nothing to compute)
    data: StrategyData = field(default_factory=StrategyData)
    retry: RetryPolicy = NO_RETRY
    # error class ("rate_limited", "server_error", ...) -> fallback model names, in order
    fallbacks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hedge: HedgePolicy | None = None  # None: no hedging (the default, and the cheap path)


class RouteTable:
    """Exact model names, then ``prefix/*`` wildcard entries (the suffix is passed on)."""

    __slots__ = ("exact", "wildcards")

    def __init__(self, routes: list[ModelRoute], wildcards: list[tuple[str, ModelRoute]]) -> None:
        self.exact = {r.name: r for r in routes}
        self.wildcards = wildcards

    def names(self) -> list[str]:
        return list(self.exact)

    def lookup(self, model: str) -> tuple[ModelRoute, str | None] | None:
        """The route for ``model`` and, for a wildcard match, the upstream model name."""
        route = self.exact.get(model)
        if route is not None:
            return route, None
        for prefix, wroute in self.wildcards:
            if model.startswith(prefix) and len(model) > len(prefix):
                return wroute, model[len(prefix):]
        return None
