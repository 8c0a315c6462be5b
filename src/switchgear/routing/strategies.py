"""Routing strategies: small functions that order the same candidate list, best first.

Why separate functions: each policy (priority, weighted random, least latency, least
busy, lowest cost) is a few lines that can be read and tested alone, and a model route
names one of them in config. None of them filters: placement rules run before them
(``placement.filter_candidates``) and open circuit breakers are skipped while dispatch
walks the returned order, so a strategy only decides *order*, and every eligible
deployment stays available as a fallback.

Conventions:
- Candidates are opaque objects identified by ``.name`` (``routing.table.Deployment``).
- The input order is the configured priority order; every sort is stable, so ties keep it.
- The data a strategy reads (weights, health, prices, the random source) is passed in,
  never read from globals, so tests are deterministic and a config reload swaps it whole.
- Per call: one small list and a dict look-up per candidate. Routes have a handful of
  deployments, so sorting costs about a microsecond.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from switchgear.routing.health import DeploymentHealth


class Named(Protocol):
    @property
    def name(self) -> str: ...


C = TypeVar("C", bound=Named)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per one million tokens (the price catalog's unit)."""

    input_per_mtok: float
    output_per_mtok: float


def priority(candidates: Sequence[C]) -> list[C]:
    """Config order: the first healthy deployment answers, the rest are fallbacks."""
    return list(candidates)


def weighted(candidates: Sequence[C], weights: Mapping[str, float], rng: random.Random) -> list[C]:
    """Weighted random order without replacement.

    The first element is candidate *i* with probability ``w_i / sum(w)``; each later
    position is drawn the same way from those left (Efraimidis-Spirakis: sort by
    ``u ** (1 / w)``, ``u`` uniform). A missing weight is 1. Weight 0 (or negative)
    means "standby": never drawn while another has weight, but still a fallback, after the
    weighted ones in config order.
    """
    if len(candidates) < 2:
        return list(candidates)
    rnd = rng.random
    get = weights.get
    keyed: list[tuple[float, int, C]] = []
    standby: list[C] = []
    for i, c in enumerate(candidates):
        w = get(c.name, 1.0)
        if w > 0:
            keyed.append((-(rnd() ** (1.0 / w)), i, c))  # i breaks ties: never compare candidates
        else:
            standby.append(c)
    keyed.sort()
    out = [t[2] for t in keyed]
    if standby:
        out.extend(standby)
    return out


def least_latency(candidates: Sequence[C], health: Mapping[str, DeploymentHealth], stream: bool) -> list[C]:
    """Lowest EWMA first: time to first token for streams, total latency otherwise.

    A deployment with no sample yet sorts *first*, so a new (or newly added) deployment
    gets traffic and a measurement instead of being starved by the incumbents.
    """
    get = health.get
    if stream:

        def key(c: C) -> float:
            h = get(c.name)
            v = None if h is None else h.ttft_ewma
            return -1.0 if v is None else v

    else:

        def key(c: C) -> float:
            h = get(c.name)
            v = None if h is None else h.latency_ewma
            return -1.0 if v is None else v

    return sorted(candidates, key=key)


def least_busy(candidates: Sequence[C], health: Mapping[str, DeploymentHealth]) -> list[C]:
    """Fewest requests in flight (from this process) first; unknown counts as idle."""
    get = health.get

    def key(c: C) -> int:
        h = get(c.name)
        return 0 if h is None else h.in_flight

    return sorted(candidates, key=key)


def lowest_cost(
    candidates: Sequence[C],
    prices: Mapping[str, Price],
    input_tokens: float = 1.0,
    output_tokens: float = 1.0,
) -> list[C]:
    """Cheapest expected cost first; ties by priority.

    Cost = ``input_per_mtok * input_tokens + output_per_mtok * output_tokens``: pass the
    request's estimated token counts, or the route's typical mix (the default 1:1 ranks by
    the sum of the two prices). A deployment without a price sorts last: we never prefer
    what we cannot cost.
    """

    def key(c: C) -> float:
        p = prices.get(c.name)
        if p is None:
            return math.inf
        return p.input_per_mtok * input_tokens + p.output_per_mtok * output_tokens

    return sorted(candidates, key=key)


# ---- one signature for config-selected strategies -----------------------------------------


@dataclass(frozen=True, slots=True)
class StrategyData:
    """What the strategies read, built once per model route (and rebuilt on reload)."""

    weights: Mapping[str, float] = field(default_factory=dict)
    health: Mapping[str, DeploymentHealth] = field(default_factory=dict)  # a HealthRegistry
    prices: Mapping[str, Price] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    input_tokens: float = 1.0  # the cost mix lowest_cost ranks by
    output_tokens: float = 1.0


# strategy(candidates, data, stream) -> candidates, best first
Strategy = Callable[[Sequence[C], StrategyData, bool], list[C]]


def _priority(candidates: Sequence[C], data: StrategyData, stream: bool) -> list[C]:
    return list(candidates)


def _weighted(candidates: Sequence[C], data: StrategyData, stream: bool) -> list[C]:
    return weighted(candidates, data.weights, data.rng)


def _least_latency(candidates: Sequence[C], data: StrategyData, stream: bool) -> list[C]:
    return least_latency(candidates, data.health, stream)


def _least_busy(candidates: Sequence[C], data: StrategyData, stream: bool) -> list[C]:
    return least_busy(candidates, data.health)


def _lowest_cost(candidates: Sequence[C], data: StrategyData, stream: bool) -> list[C]:
    return lowest_cost(candidates, data.prices, data.input_tokens, data.output_tokens)


# Read-only: the names a route's `strategy:` may use.
STRATEGIES: Mapping[str, Strategy[Any]] = MappingProxyType(
    {
        "priority": _priority,
        "weighted": _weighted,
        "least_latency": _least_latency,
        "least_busy": _least_busy,
        "lowest_cost": _lowest_cost,
    }
)
