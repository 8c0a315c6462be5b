"""The embedded default config: what `switchgear serve` runs with no config file.

Providers are discovered from the usual environment variables. With none, the
built-in simulator stands in — one simulated provider per wire format, plus a
flaky one behind a failover model — so the first command gives a working gateway.
"""

from __future__ import annotations

import os
import secrets
from typing import Any, Mapping

from switchgear.config.load import parse_config
from switchgear.config.schema import Config

# Well-known model names per discovered vendor; "<provider>/*" reaches any other model.
_DISCOVERED: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # vendor: (env var, chat models, embedding models)
    "openai": ("OPENAI_API_KEY", ("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini"), ("text-embedding-3-small",)),
    "anthropic": ("ANTHROPIC_API_KEY", ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"), ()),
    "gemini": ("GEMINI_API_KEY", ("gemini-2.5-pro", "gemini-2.5-flash"), ("gemini-embedding-001",)),
}


def _sim(name: str, fmt: str, **settings: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "vendor": "simulator", "format": fmt}
    if settings:
        p["simulator"] = settings
    return p


def simulator_config() -> dict[str, Any]:
    return {
        "providers": [
            _sim("sim-openai", "openai_chat", tokens_per_second=200),
            _sim("sim-anthropic", "anthropic_messages", tokens_per_second=200),
            _sim("sim-gemini", "gemini", tokens_per_second=200),
            _sim("sim-bedrock", "bedrock_converse", tokens_per_second=200),
            _sim("sim-flaky", "openai_chat", error_rate=0.5, seed=7),
        ],
        "models": [
            {"name": "sim-gpt", "deployments": [{"provider": "sim-openai", "model": "sim-gpt"}]},
            {"name": "sim-claude", "deployments": [{"provider": "sim-anthropic", "model": "sim-claude"}]},
            {"name": "sim-gemini", "deployments": [{"provider": "sim-gemini", "model": "sim-gemini"}]},
            {"name": "sim-bedrock", "deployments": [{"provider": "sim-bedrock", "model": "sim-bedrock"}]},
            {"name": "sim-failover", "description": "half the first deployment's calls fail; the second answers",
             "deployments": [{"provider": "sim-flaky", "model": "sim-flaky"},
                             {"provider": "sim-anthropic", "model": "sim-claude"}]},
            {"name": "sim-embed", "kind": "embeddings", "deployments": [{"provider": "sim-openai", "model": "sim-embed"}]},
        ],
    }


def discovered_config(env: Mapping[str, str]) -> dict[str, Any]:
    providers: list[dict[str, Any]] = []
    models: list[dict[str, Any]] = []
    for vendor, (var, chat, embed) in _DISCOVERED.items():
        if not env.get(var):
            continue
        providers.append({"name": vendor, "vendor": vendor, "api_key": f"${{{var}}}"})
        models += [{"name": m, "deployments": [{"provider": vendor, "model": m}]} for m in chat]
        models += [{"name": m, "kind": "embeddings", "deployments": [{"provider": vendor, "model": m}]} for m in embed]
        models.append({"name": f"{vendor}/*", "deployments": [{"provider": vendor, "model": "*"}]})
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        providers.append({"name": "bedrock", "vendor": "bedrock", "region": region})
        models.append({"name": "bedrock/*", "deployments": [{"provider": "bedrock", "model": "*"}]})
    return {"providers": providers, "models": models}


def default_config(env: Mapping[str, str] | None = None) -> tuple[Config, str | None]:
    """The embedded config and, when one was generated, the client key to print."""
    env = os.environ if env is None else env
    data = discovered_config(env)
    source = "embedded defaults (providers from environment)"
    if not data["providers"]:
        data = simulator_config()
        source = "embedded defaults (built-in simulator: no provider keys in the environment)"
    generated = None
    key = env.get("SWITCHGEAR_API_KEY")
    if not key:
        key = generated = "sk-sg-" + secrets.token_urlsafe(24)
    # The embedded default is config-only identity: one key that may use every model.
    data["auth"] = {"keys": [{"name": "default", "key": key, "grants": [{"models": ["*"]}]}]}
    return parse_config(data, source, env), generated
