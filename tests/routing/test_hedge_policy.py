"""A model's hedge config becomes a HedgePolicy with its own budget; the delay comes from
the observed p95 when asked and known."""

from __future__ import annotations

from typing import Any

from switchgear.config.load import parse_config
from switchgear.routing.health import DeploymentHealth
from switchgear.routing.retry import HedgeBudget
from switchgear.runtime import build_runtime
from switchgear.stages.hedging import _hedge_delay


def config(hedge: dict[str, Any] | None) -> Any:
    model: dict[str, Any] = {"name": "m", "deployments": [{"provider": "a", "model": "x"}, {"provider": "a", "model": "y"}]}
    if hedge is not None:
        model["hedge"] = hedge
    return parse_config({"providers": [{"name": "a", "vendor": "openai", "api_key": "k"}], "models": [model]})


async def test_hedge_policy_and_budget_carry_over_a_reload() -> None:
    rt = build_runtime(config({"delay_ms": 150, "max_extra": 2, "budget_ratio": 0.5}))
    try:
        h = rt.routes.exact["m"].hedge
        assert h is not None and h.delay == 0.15 and h.max_extra == 2 and not h.use_p95
        assert isinstance(h.budget, HedgeBudget) and h.budget.ratio == 0.5
        same = build_runtime(config({"delay_ms": 300, "budget_ratio": 0.5}), previous=rt)
        assert same.routes.exact["m"].hedge.budget is h.budget  # same budget settings: state kept
        other = build_runtime(config({"delay_ms": 300, "budget_ratio": 0.2}), previous=rt)
        assert other.routes.exact["m"].hedge.budget is not h.budget
        off = build_runtime(config(None), previous=rt)
        assert off.routes.exact["m"].hedge is None  # hedging off: the default, cheap path
    finally:
        await rt.aclose()


def test_delay_is_the_observed_p95_once_known_else_the_fixed_delay() -> None:
    rt_cfg = config({"use_p95": True, "delay_ms": 500})
    rt = build_runtime(rt_cfg)
    h = rt.routes.exact["m"].hedge
    health = DeploymentHealth("a/x", min_samples=10)
    assert _hedge_delay(h, health) == 0.5  # too few samples yet
    for i in range(20):
        health.observe_ttft(0.01 * (i + 1))  # 10 ms .. 200 ms
    assert _hedge_delay(h, health) == health.ttft_p95() == 0.19
    fixed = build_runtime(config({"delay_ms": 500})).routes.exact["m"].hedge
    assert _hedge_delay(fixed, health) == 0.5  # use_p95 off: the samples are ignored
    only_p95 = build_runtime(config({"use_p95": True})).routes.exact["m"].hedge
    assert _hedge_delay(only_p95, DeploymentHealth("a/y")) is None  # nothing known: no hedge yet
