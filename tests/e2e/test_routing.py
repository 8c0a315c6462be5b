"""Routing and resilience end to end: a real gateway process in front of the simulator,
with scripted faults. Fallbacks across vendors, retries, circuit breakers, placement,
weighted routing, and a half-broken model under load with no client-visible errors."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any, Iterator

import httpx2 as httpx
import openai
import pytest

from switchgear.simulator import SimulatorConfig
from tests.e2e.harness import CLIENT_KEY, UPSTREAM_KEY, GatewayProcess, SimThread, gateway_config

EU_KEY = "sk-e2e-eu-resident-key-0123"
AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}
HELLO = [{"role": "user", "content": "hi"}]
EU = {"region": "eu-west-1"}
US = {"region": "us-east-1"}


def dep(provider: str, model: str, **extra: Any) -> dict[str, Any]:
    return {"provider": provider, "model": model, **extra}


CLAUDE = dep("anthropic", "claude-sonnet-4-5")
MODELS: list[dict[str, Any]] = [
    {"name": "fb-target", "deployments": [CLAUDE]},
    {"name": "fb-big", "deployments": [dep("gemini", "gemini-2.5-flash")]},
    {"name": "fb-503", "deployments": [dep("openai", "sim-fail-503")], "fallbacks": {"server_error": ["fb-target"]}},
    {"name": "fb-429", "deployments": [dep("openai", "sim-fail-429")], "fallbacks": {"rate_limited": ["fb-target"]}},
    {"name": "fb-timeout", "deployments": [dep("tight", "sim-hang")], "fallbacks": {"timeout": ["fb-target"]}},
    {"name": "fb-context", "deployments": [dep("anthropic", "sim-context-length")],
     "fallbacks": {"context_window": ["fb-big"]}},
    {"name": "retry", "deployments": [dep("openai", "gpt-4o"), dep("vllm", "llama")],
     "retries": {"attempts": 2, "backoff_base_ms": 10, "backoff_cap_ms": 50, "max_retry_after_s": 1}},
    {"name": "brk", "deployments": [dep("tight", "gpt-4o"), CLAUDE],
     "breaker": {"consecutive_failures": 3, "failure_rate": None, "open_seconds": 1}},
    {"name": "resident", "deployments": [dep("openai", "sim-fail-503", tags=EU), dep("anthropic", "claude-3-us", tags=US)],
     "fallbacks": {"server_error": ["resident-fb"]}},
    {"name": "resident-fb", "deployments": [dep("gemini", "gemini-us", tags=US)]},
    {"name": "weighted", "strategy": "weighted",
     "deployments": [dep("openai", "gpt-4o", weight=3), dep("anthropic", "claude-sonnet-4-5", weight=1)]},
    {"name": "half-dead", "strategy": "weighted",
     "deployments": [dep("openai", "sim-fail-503"), dep("anthropic", "claude-sonnet-4-5")]},
]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    s = SimThread(SimulatorConfig(api_key=UPSTREAM_KEY, seed=3))
    yield s
    s.close()


@pytest.fixture(scope="module")
def gateway(sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    cfg = gateway_config(sim.url)
    cfg["models"] = MODELS  # only ours: their breakers are part of what is tested
    cfg["auth"]["keys"].append({"name": "eu", "key": EU_KEY, "requirements": {"regions": ["eu"]}, "grants": [{"models": ["*"]}]})
    g = GatewayProcess(cfg, tmp_path_factory.mktemp("gw-routing"))
    yield g
    g.stop()


def chat(gw: GatewayProcess, model: str, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    return httpx.post(f"{gw.url}/v1/chat/completions", headers={**AUTH, **(headers or {})},
                      json={"model": model, "messages": HELLO, **body}, timeout=20)


def sent_models(sim: SimThread) -> list[str]:
    """The upstream model of every request the simulator received (any vendor's path)."""
    out = []
    for r in sim.requests():
        body = r.get("body") or {}
        model = body.get("model") if isinstance(body, dict) else None
        out.append(str(model or r.get("path", "")))
    return out


# ---- fallbacks across vendors, by error class -------------------------------------------------


@pytest.mark.parametrize("model", ["fb-503", "fb-429", "fb-timeout"])
def test_fallback_model_answers_when_the_first_model_fails(gateway: GatewayProcess, model: str) -> None:
    r = chat(gateway, model)
    assert r.status_code == 200, r.text
    assert r.headers["x-switchgear-model"] == "fb-target"
    assert r.headers["x-switchgear-deployment"] == "anthropic/claude-sonnet-4-5"
    failed = r.headers["x-switchgear-failed"]
    code = {"fb-503": "upstream_overloaded", "fb-429": "rate_limit_exceeded", "fb-timeout": "upstream_timeout"}[model]
    assert failed.endswith(f"={code}"), failed
    assert r.json()["model"] == model  # the client sees the name it asked for


def test_context_window_falls_back_to_the_larger_model_streaming(gateway: GatewayProcess) -> None:
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=AUTH, timeout=20,
                      json={"model": "fb-context", "messages": HELLO, "stream": True}) as r:
        text = "".join(r.iter_lines())
    assert r.status_code == 200
    assert r.headers["x-switchgear-model"] == "fb-big"
    assert r.headers["x-switchgear-deployment"] == "gemini/gemini-2.5-flash"
    assert "context_length_exceeded" in r.headers["x-switchgear-failed"]
    assert "[DONE]" in text


def test_without_a_fallback_the_error_class_reaches_the_client(gateway: GatewayProcess) -> None:
    r = chat(gateway, "resident-fb")  # gemini-us answers normally: sanity
    assert r.status_code == 200 and "x-switchgear-model" not in r.headers


# ---- retries on the same deployment ------------------------------------------------------------


def test_retry_resends_to_the_same_deployment(gateway: GatewayProcess, sim: SimThread) -> None:
    sim.reset()
    sim.faults({"kind": "status", "status": 503})
    r = chat(gateway, "retry")
    assert r.status_code == 200
    assert r.headers["x-switchgear-deployment"] == "openai/gpt-4o"
    assert r.headers["x-switchgear-attempts"] == "2"
    assert r.headers["x-switchgear-failed"] == "openai/gpt-4o=upstream_overloaded"


def test_retry_honours_retry_after(gateway: GatewayProcess, sim: SimThread) -> None:
    sim.faults({"kind": "status", "status": 429, "retry_after": 0.4})
    t0 = time.monotonic()
    r = chat(gateway, "retry")
    assert r.status_code == 200 and r.headers["x-switchgear-deployment"] == "openai/gpt-4o"
    assert time.monotonic() - t0 >= 0.4


def test_retry_after_longer_than_allowed_moves_on_instead_of_waiting(gateway: GatewayProcess, sim: SimThread) -> None:
    sim.faults({"kind": "status", "status": 429, "retry_after": 30})
    t0 = time.monotonic()
    r = chat(gateway, "retry")
    assert time.monotonic() - t0 < 3
    assert r.status_code == 200 and r.headers["x-switchgear-deployment"] == "vllm/llama"
    assert r.headers["x-switchgear-attempts"] == "2"


# ---- circuit breaker -----------------------------------------------------------------------------


def test_breaker_opens_skips_without_waiting_and_recovers(gateway: GatewayProcess, sim: SimThread) -> None:
    for _ in range(3):  # three hung first attempts: each costs the 1 s first-token timeout
        sim.faults({"kind": "hang"})  # consumed by the tight deployment; the fallback is clean
        t0 = time.monotonic()
        r = chat(gateway, "brk")
        assert r.status_code == 200 and r.headers["x-switchgear-deployment"] == "anthropic/claude-sonnet-4-5"
        assert time.monotonic() - t0 >= 0.9
    t0 = time.monotonic()
    r = chat(gateway, "brk")
    assert time.monotonic() - t0 < 0.5  # the open breaker costs nothing
    assert r.status_code == 200 and r.headers["x-switchgear-deployment"] == "anthropic/claude-sonnet-4-5"
    assert r.headers["x-switchgear-failed"] == "tight/gpt-4o=circuit_open"
    time.sleep(1.1)  # open_seconds: the next request is the half-open probe, and it succeeds
    for _ in range(2):
        r = chat(gateway, "brk")
        assert r.status_code == 200 and r.headers["x-switchgear-deployment"] == "tight/gpt-4o"
        assert "x-switchgear-failed" not in r.headers


# ---- placement -----------------------------------------------------------------------------------


def test_placement_is_never_violated_under_fallback(gateway: GatewayProcess, sim: SimThread) -> None:
    sim.reset()
    for headers in ({"x-switchgear-residency": "eu"}, {"authorization": f"Bearer {EU_KEY}"}):
        r = chat(gateway, "resident", headers)
        assert r.status_code == 503, r.text  # the eu deployment's own failure, not a route elsewhere
        msg = r.json()["error"]["message"]
        assert "not eligible by placement" in msg and "residency eu" in msg
        assert "anthropic/claude-3-us" in msg and "gemini/gemini-us" in msg
    models = sent_models(sim)
    assert models.count("sim-fail-503") == 2  # the eu deployment was tried, once per request
    assert not any("-us" in m for m in models), models
    # Without the requirement the us deployment answers: the rule, not an outage, kept it out.
    r = chat(gateway, "resident")
    assert r.status_code == 200 and r.headers["x-switchgear-deployment"] == "anthropic/claude-3-us"


def test_no_eligible_deployment_is_a_403_that_says_why(gateway: GatewayProcess, sim: SimThread) -> None:
    sim.reset()
    r = chat(gateway, "resident", {"x-switchgear-residency": "ap"})
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "placement_unsatisfied"
    assert "residency ap" in err["message"] and "region eu-west-1 is outside residency ap" in err["message"]
    # Headers can only add requirements to the key's, never lift them.
    r = chat(gateway, "resident", {"authorization": f"Bearer {EU_KEY}", "x-switchgear-residency": "us"})
    assert r.status_code == 403
    r = chat(gateway, "resident", {"x-switchgear-environment": "basement"})
    assert r.status_code == 400 and "basement" in r.json()["error"]["message"]
    assert sim.requests() == []


# ---- strategies and load -------------------------------------------------------------------------


def test_weighted_strategy_distributes_by_weight(gateway: GatewayProcess) -> None:
    with httpx.Client(headers=AUTH, timeout=20) as client:
        seen = Counter(
            client.post(f"{gateway.url}/v1/chat/completions", json={"model": "weighted", "messages": HELLO})
            .headers["x-switchgear-deployment"]
            for _ in range(200)
        )
    share = seen["openai/gpt-4o"] / 200  # weight 3 of 4: 0.75, sd ~0.03
    assert 0.6 < share < 0.9, seen


def test_thousand_concurrent_requests_with_one_deployment_down_see_no_errors(gateway: GatewayProcess) -> None:
    async def main() -> tuple[int, Counter[str]]:
        client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)
        gate = asyncio.Semaphore(64)
        answered: Counter[str] = Counter()

        async def one() -> None:
            async with gate:
                raw = await client.chat.completions.with_raw_response.create(model="half-dead", messages=HELLO)  # type: ignore[arg-type]
                assert raw.parse().choices[0].message.content
                answered[raw.headers["x-switchgear-deployment"]] += 1

        results = await asyncio.gather(*(one() for _ in range(1000)), return_exceptions=True)
        await client.close()
        return sum(1 for r in results if isinstance(r, BaseException)), answered

    errors, answered = asyncio.run(main())
    assert errors == 0
    assert answered == Counter({"anthropic/claude-sonnet-4-5": 1000})
