"""The runtime builds routing state from config and carries it across a reload by name."""

from __future__ import annotations

from typing import Any

from switchgear.config.load import parse_config
from switchgear.identity.config_keys import key_id
from switchgear.routing.placement import PlacementTags
from switchgear.routing.strategies import STRATEGIES, Price
from switchgear.runtime import build_runtime

KEY = "sk-routing-test-key"


def config(breaker: dict[str, Any] | None = None, extra_dep: bool = False) -> Any:
    deps = [
        {"provider": "a", "model": "x", "weight": 3, "tags": {"region": "EU-West-1", "environment": "cloud"},
         "timeouts": {"first_token": 2}, "price": {"input_per_mtok": 1, "output_per_mtok": 2}},
        {"provider": "b", "model": "y"},
    ]
    if extra_dep:
        deps.append({"provider": "a", "model": "z"})
    model: dict[str, Any] = {"name": "m", "strategy": "weighted", "deployments": deps,
                             "retries": {"attempts": 2, "backoff_base_ms": 50, "backoff_cap_ms": 400},
                             "fallbacks": {"timeout": ["other"]}}
    if breaker:
        model["breaker"] = breaker
    return parse_config({
        "auth": {"keys": [{"key": KEY, "requirements": {"regions": ["eu"]}}, {"key": "sk-plain-key-123"}]},
        "providers": [{"name": "a", "vendor": "openai", "api_key": "k", "timeouts": {"first_token": 9}},
                      {"name": "b", "vendor": "anthropic"}],
        "models": [model, {"name": "other", "deployments": [{"provider": "b", "model": "y"}]}],
    })


async def test_routes_carry_strategy_data_and_policies() -> None:
    rt = build_runtime(config())
    try:
        route, _ = rt.routes.lookup("m")
        a, b = route.deployments
        assert route.strategy is STRATEGIES["weighted"] and route.strategy_name == "weighted"
        assert route.data.weights == {"a/x": 3.0, "b/y": 1.0}
        assert route.data.prices == {"a/x": Price(1.0, 2.0)}
        assert route.data.health is rt.health and set(rt.health) == {"a/x", "b/y"}
        assert route.retry.attempts == 2 and route.retry.backoff_base == 0.05 and route.retry.backoff_cap == 0.4
        assert route.fallbacks == {"timeout": ("other",)}
        assert a.tags == PlacementTags(environment="cloud", region="eu-west-1") and b.tags is None
        assert a.first_token_timeout == 2.0 and a.idle_timeout == 120.0  # override, then the provider's
        other, _ = rt.routes.lookup("other")
        assert other.strategy is None  # priority: nothing to compute per request
        assert set(rt.breakers) == {"a/x", "b/y"}
        p = rt.services.directory.verify_key(KEY)
        assert p.key_id == key_id(KEY) and p.requirements.regions == frozenset({"eu"})
        assert rt.services.directory.verify_key("sk-plain-key-123").requirements is None
    finally:
        await rt.aclose()


async def test_reload_keeps_state_by_name() -> None:
    old = build_runtime(config())
    old.health["a/x"].observe_ttft(0.25)
    old.breakers["b/y"].record_failure(1.0)
    new = build_runtime(config(extra_dep=True), previous=old)
    try:
        assert new.health["a/x"] is old.health["a/x"] and new.health["a/x"].ttft_ewma == 0.25
        assert new.breakers["b/y"] is old.breakers["b/y"]
        assert new.retry_budget is old.retry_budget
        assert "a/z" in new.health and "a/z" in new.breakers
        # A changed breaker policy starts a fresh breaker.
        changed = build_runtime(config(breaker={"consecutive_failures": 2}), previous=new)
        assert changed.breakers["a/x"] is not new.breakers["a/x"]
        assert changed.breakers["a/x"].policy.consecutive_failures == 2
        await changed.aclose()
    finally:
        await old.aclose()
        await new.aclose()


def test_a_deployment_connect_timeout_override_gets_its_own_pool() -> None:
    from switchgear.config.load import parse_config
    from switchgear.runtime import build_runtime

    cfg = parse_config({
        "providers": [{"name": "p", "vendor": "openai_compatible", "base_url": "http://127.0.0.1:9/v1",
                       "timeouts": {"connect": 10}}],
        "models": [{"name": "m", "deployments": [
            {"provider": "p", "model": "a"},
            {"provider": "p", "model": "b", "timeouts": {"connect": 0.5}},
            {"provider": "p", "model": "c", "timeouts": {"first_token": 3}},
        ]}],
    }, env={})
    a, b, c = build_runtime(cfg).routes.exact["m"].deployments
    assert b.connect_timeout == 0.5 and b.pool._connect_timeout == 0.5
    assert a.pool is c.pool and a.pool._connect_timeout == 10
    assert b.pool is not a.pool
