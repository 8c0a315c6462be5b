"""Hedging end to end: a real gateway in front of three simulators, two of them slow.

The slow simulator delays its whole answer (``latency_ms``: no byte, not even response
headers, for 800 ms), which is what a queueing upstream looks like. The slow-token
simulator answers headers and the stream's preamble (OpenAI's role-only chunk,
Anthropic's message_start / content_block_start / ping) at once and its first token 800 ms
later (``first_token_ms``), which is what a busy model server looks like. A hedged model
starts the fast deployment after 100 ms without a first *token*; the first racer to
produce a token wins the client and the other is cancelled."""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import httpx2 as httpx
import pytest

from switchgear.config.load import ConfigError, parse_config
from switchgear.simulator import SimulatorConfig
from tests.e2e.harness import CLIENT_KEY, UPSTREAM_KEY, GatewayProcess, SimThread, gateway_config

AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}
HELLO = [{"role": "user", "content": "hi"}]
SLOW = {"provider": "slow", "model": "gpt-4o"}
FAST = {"provider": "anthropic", "model": "claude-sonnet-4-5"}
STRICT_BREAKER = {"consecutive_failures": 2, "failure_rate": None}  # a lost race must not count as a failure
SLOW_TOKEN = {"provider": "slowtoken", "model": "gpt-4o"}
SLOW_TOKEN_ANTHROPIC = {"provider": "slowtoken-anthropic", "model": "claude-sonnet-4-5"}
FAST_OPENAI = {"provider": "openai", "model": "gpt-4o"}
GENEROUS = {"delay_ms": 100, "budget_ratio": 10, "budget_min_per_second": 100}

MODELS: list[dict[str, Any]] = [
    {"name": "hedged", "deployments": [SLOW, FAST], "hedge": GENEROUS, "breaker": STRICT_BREAKER},
    {"name": "unhedged", "deployments": [SLOW, FAST]},
    {"name": "capped", "deployments": [SLOW, FAST],
     "hedge": {"delay_ms": 100, "budget_ratio": 0.01, "budget_min_per_second": 0}},
    # The hedge fails fast while the slow first attempt is still running: the request waits for it.
    {"name": "hedge-fails", "deployments": [SLOW, {"provider": "openai", "model": "sim-fail-503"}], "hedge": GENEROUS},
    # Slow first token behind a prompt preamble: pass-through (OpenAI client, OpenAI upstream)
    # and translated (OpenAI client, Anthropic upstream) slow racers ...
    {"name": "hedged-ft", "deployments": [SLOW_TOKEN, FAST], "hedge": GENEROUS, "breaker": STRICT_BREAKER},
    {"name": "unhedged-ft", "deployments": [SLOW_TOKEN, FAST]},
    {"name": "hedged-ft-translated", "deployments": [SLOW_TOKEN_ANTHROPIC, FAST_OPENAI], "hedge": GENEROUS},
    {"name": "unhedged-ft-translated", "deployments": [SLOW_TOKEN_ANTHROPIC, FAST_OPENAI]},
]


@pytest.fixture(scope="module")
def fast_sim() -> Iterator[SimThread]:
    s = SimThread(SimulatorConfig(api_key=UPSTREAM_KEY, seed=5))
    yield s
    s.close()


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[SimThread]:
    s = SimThread(SimulatorConfig(api_key=UPSTREAM_KEY, seed=6, latency_ms=800))
    yield s
    s.close()


@pytest.fixture(scope="module")
def slow_token_sim() -> Iterator[SimThread]:
    s = SimThread(SimulatorConfig(api_key=UPSTREAM_KEY, seed=7, first_token_ms=800))
    yield s
    s.close()


@pytest.fixture(scope="module")
def gateway(fast_sim: SimThread, slow_sim: SimThread, slow_token_sim: SimThread,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    cfg = gateway_config(fast_sim.url)
    cfg["providers"].append({"name": "slow", "vendor": "openai", "base_url": f"{slow_sim.url}/v1",
                             "api_key": UPSTREAM_KEY, "timeouts": {"first_token": 5, "total": 30}})
    cfg["providers"].append({"name": "slowtoken", "vendor": "openai", "base_url": f"{slow_token_sim.url}/v1",
                             "api_key": UPSTREAM_KEY, "timeouts": {"first_token": 5, "total": 30}})
    cfg["providers"].append({"name": "slowtoken-anthropic", "vendor": "anthropic", "base_url": slow_token_sim.url,
                             "api_key": UPSTREAM_KEY, "timeouts": {"first_token": 5, "total": 30}})
    cfg["models"] = MODELS
    g = GatewayProcess(cfg, tmp_path_factory.mktemp("gw-hedging"))
    yield g
    g.stop()


def stream_once(gw: GatewayProcess, model: str) -> tuple[float, httpx.Response, str]:
    """(seconds to the first streamed event, the response, the whole body)."""
    t0 = time.perf_counter()
    ttft = 0.0
    lines = []
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", headers=AUTH, timeout=20,
                      json={"model": model, "messages": HELLO, "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and not ttft:
                ttft = time.perf_counter() - t0
            lines.append(line)
    return ttft, r, "\n".join(lines)


def _openai_token(line: str) -> bool:
    if not line.startswith("data: ") or line == "data: [DONE]":
        return False
    chunk = json.loads(line[6:])
    return any((c.get("delta") or {}).get("content") or (c.get("delta") or {}).get("tool_calls")
               for c in chunk.get("choices") or ())


def stream_ttft(gw: GatewayProcess, model: str, anthropic: bool = False) -> tuple[float, float, httpx.Response, str]:
    """(seconds to the first streamed event, seconds to the first content token - measured
    at the client -, the response, the whole body)."""
    t0 = time.perf_counter()
    first_event = first_token = 0.0
    lines = []
    if anthropic:
        url, headers = f"{gw.url}/v1/messages", {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
        body: dict[str, Any] = {"model": model, "messages": HELLO, "stream": True, "max_tokens": 64}
    else:
        url, headers, body = f"{gw.url}/v1/chat/completions", AUTH, {"model": model, "messages": HELLO, "stream": True}
    with httpx.stream("POST", url, headers=headers, timeout=20, json=body) as r:
        for line in r.iter_lines():
            now = time.perf_counter() - t0
            if not first_event and line.startswith(("data: ", "event: ")):
                first_event = now
            if not first_token and (line == "event: content_block_delta" if anthropic else _openai_token(line)):
                first_token = now
            lines.append(line)
    return first_event, first_token, r, "\n".join(lines)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]


def test_hedging_cuts_p99_ttft_and_the_fast_deployment_answers(gateway: GatewayProcess) -> None:
    hedged = [stream_once(gateway, "hedged") for _ in range(30)]
    for _, r, body in hedged:
        assert r.status_code == 200
        assert r.headers["x-switchgear-deployment"] == "anthropic/claude-sonnet-4-5"
        assert r.headers["x-switchgear-hedged"] == "1"
        assert r.headers["x-switchgear-attempts"] == "2"
        # The loser is named; the strict breaker never opened (a lost race is not a failure).
        assert r.headers["x-switchgear-failed"] == "slow/gpt-4o=hedge_lost"
        assert body.rstrip().endswith("data: [DONE]")
    with ThreadPoolExecutor(8) as pool:  # unhedged requests wait 800 ms each: run them together
        plain = list(pool.map(lambda _: stream_once(gateway, "unhedged"), range(8)))
    for _, r, _ in plain:
        assert r.status_code == 200 and r.headers["x-switchgear-deployment"] == "slow/gpt-4o"
        assert "x-switchgear-hedged" not in r.headers and "x-switchgear-attempts" not in r.headers
    hedged_p99 = p99([t for t, _, _ in hedged])
    plain_median = statistics.median(t for t, _, _ in plain)
    assert plain_median >= 0.75  # the slow tail is real ...
    assert hedged_p99 < plain_median - 0.3, (hedged_p99, plain_median)  # ... and hedging cuts it


def test_unary_requests_hedge_too(gateway: GatewayProcess) -> None:
    t0 = time.perf_counter()
    r = httpx.post(f"{gateway.url}/v1/chat/completions", headers=AUTH, timeout=20,
                   json={"model": "hedged", "messages": HELLO})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    assert time.perf_counter() - t0 < 0.7
    assert r.headers["x-switchgear-deployment"] == "anthropic/claude-sonnet-4-5"
    assert r.headers["x-switchgear-hedged"] == "1"
    assert r.headers["x-switchgear-failed"] == "slow/gpt-4o=hedge_lost"


def test_the_hedge_budget_caps_extra_requests(gateway: GatewayProcess) -> None:
    # ratio 0.01, no reserve: the first hedge fits (0 < 0.01 x requests), the next would
    # need 100 requests in the window. Run 16 together so they all share one window.
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: stream_once(gateway, "capped"), range(16)))
    assert all(r.status_code == 200 for _, r, _ in results)
    hedged = [r for _, r, _ in results if r.headers.get("x-switchgear-hedged") == "1"]
    assert len(hedged) == 1
    assert hedged[0].headers["x-switchgear-deployment"] == "anthropic/claude-sonnet-4-5"
    slow = [r for _, r, _ in results if r.headers["x-switchgear-deployment"] == "slow/gpt-4o"]
    assert len(slow) == 15


def test_a_hedge_that_fails_first_does_not_fail_the_request(gateway: GatewayProcess) -> None:
    ttft, r, body = stream_once(gateway, "hedge-fails")
    assert r.status_code == 200, body
    assert r.headers["x-switchgear-deployment"] == "slow/gpt-4o"
    assert r.headers["x-switchgear-hedged"] == "1"
    assert r.headers["x-switchgear-failed"] == "openai/sim-fail-503=upstream_overloaded"
    assert ttft >= 0.75


def test_losers_are_cancelled_cleanly(gateway: GatewayProcess, slow_sim: SimThread) -> None:
    """The slow simulator saw every loser's request, the gateway closed those connections
    (the gateway keeps serving, nothing leaked into error metrics or the log)."""
    slow_sim.reset()
    for _ in range(5):
        _, r, _ = stream_once(gateway, "hedged")
        assert r.headers["x-switchgear-failed"] == "slow/gpt-4o=hedge_lost"
    assert len(slow_sim.requests()) == 5  # the losers were really sent, then cut
    metrics = httpx.get(f"{gateway.url}/metrics").text
    hedged_lines = [ln for ln in metrics.splitlines() if 'model="hedged"' in ln and ln.startswith("switchgear_requests")]
    assert hedged_lines and all('status="200"' in ln for ln in hedged_lines), hedged_lines
    assert 'provider="slow"' not in "\n".join(
        ln for ln in metrics.splitlines() if ln.startswith("switchgear_upstream_attempt_failures")
    )
    time.sleep(1.0)  # the slow simulator would have answered by now: its writes hit closed sockets
    _, r, _ = stream_once(gateway, "hedged")
    assert r.status_code == 200
    assert "Traceback" not in gateway.output()


@pytest.mark.parametrize(
    ("hedge", "problem"),
    [
        ({}, "models[0].hedge: set delay_ms, use_p95, or both"),
        ({"delay_ms": 0}, "models[0].hedge.delay_ms: must be > 0"),
        ({"delay_ms": 50, "max_extra": 0}, "models[0].hedge.max_extra: must be >= 1"),
        ({"use_p95": True, "budget_ratio": -1}, "models[0].hedge.budget_ratio: must be >= 0"),
        ({"delay_ms": "fast"}, "models[0].hedge.delay_ms: Expected `float | null`, got `str`"),
        ({"delay_ms": 50, "jitter": 1}, "models[0].hedge.jitter: unknown key"),
    ],
)
def test_hedge_config_is_validated_with_dotted_paths(hedge: dict[str, Any], problem: str) -> None:
    cfg = {"providers": [{"name": "p", "vendor": "simulator"}],
           "models": [{"name": "m", "deployments": [{"provider": "p", "model": "x"}], "hedge": hedge}]}
    with pytest.raises(ConfigError) as e:
        parse_config(cfg)
    assert any(p.startswith(problem) for p in e.value.problems), e.value.problems


def test_hedge_config_parses() -> None:
    cfg = parse_config({"providers": [{"name": "p", "vendor": "simulator"}],
                        "models": [{"name": "m", "deployments": [{"provider": "p", "model": "x"}],
                                    "hedge": {"use_p95": True, "delay_ms": 250}}]})
    h = cfg.models[0].hedge
    assert h is not None and h.use_p95 and h.delay_ms == 250 and h.max_extra == 1


@pytest.mark.parametrize(
    ("hedged", "unhedged", "winner", "loser"),
    [
        ("hedged-ft", "unhedged-ft", "anthropic/claude-sonnet-4-5", "slowtoken/gpt-4o"),  # slow racer passes through
        ("hedged-ft-translated", "unhedged-ft-translated", "openai/gpt-4o", "slowtoken-anthropic/claude-sonnet-4-5"),
    ],
)
def test_a_preamble_without_a_token_does_not_win_the_race(
    gateway: GatewayProcess, hedged: str, unhedged: str, winner: str, loser: str
) -> None:
    """The slow-token upstream sends headers and its preamble at once: were the race won by
    the first bytes it would win every time and hedging would do nothing for TTFT."""
    with ThreadPoolExecutor(8) as pool:  # unhedged requests wait 800 ms each: run them together
        plain = list(pool.map(lambda _: stream_ttft(gateway, unhedged), range(8)))
    for first_event, ttft, r, _ in plain:
        assert r.status_code == 200 and r.headers["x-switchgear-deployment"] == loser
        assert first_event < 0.5 <= 0.75 <= ttft  # the fault: the preamble at once, the token late
    results = [stream_ttft(gateway, hedged) for _ in range(30)]
    for _, ttft, r, body in results:
        assert r.status_code == 200
        assert r.headers["x-switchgear-deployment"] == winner, body
        assert r.headers["x-switchgear-hedged"] == "1"
        assert r.headers["x-switchgear-failed"] == f"{loser}=hedge_lost"
        assert ttft > 0 and body.rstrip().endswith("data: [DONE]")
        # One well-formed stream: the winner's preamble exactly once, none of the loser's.
        assert body.count('"role":"assistant"') + body.count('"role": "assistant"') == 1, body
    hedged_p99 = p99([t for _, t, _, _ in results])
    plain_median = statistics.median(t for _, t, _, _ in plain)
    assert hedged_p99 < plain_median - 0.3, (hedged_p99, plain_median)


def test_an_anthropic_client_gets_the_first_token_race_too(gateway: GatewayProcess) -> None:
    """Anthropic client, Anthropic slow-token upstream (pass-through: message_start,
    content_block_start and ping come at once) against a translated OpenAI racer."""
    results = [stream_ttft(gateway, "hedged-ft-translated", anthropic=True) for _ in range(10)]
    for _, ttft, r, body in results:
        assert r.status_code == 200
        assert r.headers["x-switchgear-deployment"] == "openai/gpt-4o", body
        assert r.headers["x-switchgear-failed"] == "slowtoken-anthropic/claude-sonnet-4-5=hedge_lost"
        assert body.count("event: message_start") == 1 and body.rstrip().endswith('{"type":"message_stop"}')
        assert 0 < ttft < 0.6, ttft
