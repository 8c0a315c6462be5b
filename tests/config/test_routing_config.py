"""Routing keys in the config: strategies, weights, placement, retries, fallbacks, breakers."""

from __future__ import annotations

from typing import Any

import pytest

from switchgear.config.load import ConfigError, parse_config


def base(models: list[dict[str, Any]], keys: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "auth": {"keys": keys or []},
        "providers": [{"name": "a", "vendor": "openai", "api_key": "k"}, {"name": "b", "vendor": "anthropic"}],
        "models": models,
    }


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as ei:
        parse_config(data)
    return ei.value.problems


def test_routing_keys_parse_with_defaults_and_values() -> None:
    cfg = parse_config(base([
        {"name": "big", "deployments": [{"provider": "b", "model": "claude"}]},
        {"name": "m", "strategy": "weighted",
         "deployments": [
             {"provider": "a", "model": "gpt-4o", "weight": 3,
              "tags": {"environment": "cloud", "region": "eu-west-1", "data_classes": ["public", "internal"]},
              "timeouts": {"first_token": 2}, "price": {"input_per_mtok": 2.5, "output_per_mtok": 10}},
             {"provider": "b", "model": "claude"},
         ],
         "retries": {"attempts": 2, "backoff_base_ms": 50},
         "fallbacks": {"context_window": ["big"], "server_error": ["big"]},
         "breaker": {"consecutive_failures": 3, "open_seconds": 1}},
    ], keys=[{"key": "sk-0123456789", "requirements": {"regions": ["eu"], "data_classes": ["confidential"]}}]))
    m = cfg.models[1]
    assert m.strategy == "weighted" and cfg.models[0].strategy == "priority"
    d = m.deployments[0]
    assert d.weight == 3.0 and d.tags.region == "eu-west-1" and d.tags.data_classes == ("public", "internal")
    assert d.timeouts.first_token == 2.0 and d.timeouts.connect is None
    assert d.price.output_per_mtok == 10.0
    assert m.deployments[1].weight == 1.0 and m.deployments[1].tags is None
    assert m.retries.attempts == 2 and m.retries.backoff_cap_ms == 2000.0
    assert m.fallbacks.context_window == ("big",) and m.fallbacks.rate_limited == ()
    assert m.breaker.consecutive_failures == 3 and m.breaker.failure_rate == 0.5
    assert cfg.auth.keys[0].requirements.regions == ("eu",)


def test_bad_routing_values_are_reported_with_paths() -> None:
    got = problems(base([
        {"name": "m", "strategy": "fastest", "deployments": [
            {"provider": "a", "model": "x", "weight": "heavy", "tags": {"zone": "eu"}}]},
    ]))
    assert any(p.startswith("models[0].strategy:") for p in got), got
    assert any(p.startswith("models[0].deployments[0].weight:") for p in got), got
    assert any(p.startswith("models[0].deployments[0].tags.zone: unknown key") for p in got), got


def test_semantic_checks_name_the_key() -> None:
    got = problems(base([
        {"name": "m", "deployments": [
            {"provider": "a", "model": "x", "weight": -1,
             "tags": {"environment": "basement", "region": "eu--west"},
             "timeouts": {"idle": 0}, "price": {"input_per_mtok": -1, "output_per_mtok": 1}}],
         "retries": {"attempts": -1, "backoff_base_ms": 500, "backoff_cap_ms": 100},
         "breaker": {"failure_rate": 2.0}},
    ], keys=[{"key": "sk-0123456789", "requirements": {"environments": ["moon"]}}]))
    text = "\n".join(got)
    assert "models[0].deployments[0].weight: must be >= 0" in text
    assert "models[0].deployments[0].tags: environment 'basement'" in text
    assert "models[0].deployments[0].timeouts.idle: must be > 0" in text
    assert "models[0].deployments[0].price.input_per_mtok: must be >= 0" in text
    assert "models[0].retries.attempts: must be >= 0" in text
    assert "models[0].retries.backoff_cap_ms: must be >= backoff_base_ms" in text
    assert "models[0].breaker: failure_rate" in text
    assert "auth.keys[0].requirements: environment 'moon'" in text


def test_fallbacks_must_exist_differ_match_kind_and_not_cycle() -> None:
    got = problems(base([
        {"name": "a", "deployments": [{"provider": "a", "model": "x"}],
         "fallbacks": {"server_error": ["a", "nope", "emb", "b"]}},
        {"name": "b", "deployments": [{"provider": "a", "model": "y"}], "fallbacks": {"server_error": ["c"]}},
        {"name": "c", "deployments": [{"provider": "a", "model": "z"}], "fallbacks": {"server_error": ["a"]}},
        {"name": "emb", "kind": "embeddings", "deployments": [{"provider": "a", "model": "e"}]},
    ]))
    text = "\n".join(got)
    assert "models[0].fallbacks.server_error[0]: a model cannot fall back to itself" in text
    assert "models[0].fallbacks.server_error[1]: unknown model 'nope'" in text
    assert "models[0].fallbacks.server_error[2]: 'emb' serves embeddings, 'a' serves chat" in text
    assert "fallback cycle a -> b -> c -> a" in text


def test_fallbacks_in_different_classes_may_point_both_ways() -> None:
    # a -> b on context window, b -> a on rate limits: no loop within one error class.
    parse_config(base([
        {"name": "a", "deployments": [{"provider": "a", "model": "x"}], "fallbacks": {"context_window": ["b"]}},
        {"name": "b", "deployments": [{"provider": "b", "model": "y"}], "fallbacks": {"rate_limited": ["a"]}},
    ]))
