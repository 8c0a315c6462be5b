"""Active health checks (routing.active_health) against real sockets and the simulator:
a dead upstream's breaker opens with no client traffic, and closes again when it is back."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from switchgear import serve
from switchgear.config.load import ConfigError, parse_config
from switchgear.simulator import Simulator, SimulatorConfig

KEY = "sk-upstream-test"
FAST_BREAKER = {"consecutive_failures": 2, "failure_rate": None, "open_seconds": 0.2, "max_open_seconds": 0.2}
CHECK = {"interval_s": 0.05, "timeout_s": 0.5}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(port: int, fmt: str, health_check_on: str = "deployment") -> Any:
    prefix = "/v1" if fmt == "openai_chat" else ""
    provider: dict[str, Any] = {"name": "up", "vendor": "simulator", "format": fmt,
                                "base_url": f"http://127.0.0.1:{port}{prefix}", "api_key": KEY,
                                "timeouts": {"connect": 0.5, "first_token": 1, "idle": 1, "total": 2}}
    dep: dict[str, Any] = {"provider": "up", "model": "m"}
    (dep if health_check_on == "deployment" else provider)["health_check"] = CHECK
    return parse_config({
        "server": {"port": 0},
        "auth": {"keys": [{"key": "sk-client-123456", "name": "t", "grants": [{"models": ["*"]}]}]},
        "providers": [provider, {"name": "quiet", "vendor": "simulator", "base_url": f"http://127.0.0.1:{port}"}],
        "models": [{"name": "m", "deployments": [dep, {"provider": "quiet", "model": "n"}], "breaker": FAST_BREAKER}],
    })


async def _wait_for(pred: Any, seconds: float = 5.0) -> float:
    t0 = time.monotonic()
    while not pred():
        assert time.monotonic() - t0 < seconds, "timed out"
        await asyncio.sleep(0.02)
    return time.monotonic() - t0


@pytest.mark.parametrize(("fmt", "on"), [("openai_chat", "deployment"), ("anthropic_messages", "provider"),
                                         ("gemini", "deployment")])
async def test_checks_open_a_dead_upstreams_breaker_and_close_it_when_it_returns(fmt: str, on: str) -> None:
    port = _free_port()  # nothing listens: connection refused
    running = await serve.start(_config(port, fmt, on), "127.0.0.1", 0)
    sim = None
    try:
        assert len(running.health_checks) == 1  # only the checked deployment ("quiet" has none)

        def state() -> str:
            # The current runtime's breaker, as the checker uses it.
            return running.gateway.runtime.breakers["up/m"].state(time.monotonic())

        await _wait_for(lambda: state() != "closed")  # opened by the checks alone
        assert running.gateway.runtime.breakers["quiet/n"].state(time.monotonic()) == "closed"
        sim = Simulator(SimulatorConfig(api_key=KEY))
        await sim.start("127.0.0.1", port)  # the upstream comes back
        await _wait_for(lambda: state() == "closed")
        await asyncio.sleep(0.3)
        assert state() == "closed"  # and stays closed: the checks succeed
        seen = [r["path"] for r in sim.requests]
        want = {"openai_chat": "/v1/models", "anthropic_messages": "/v1/models", "gemini": "/v1beta/models"}[fmt]
        assert seen and set(seen) == {want}, seen  # only the cheap check, and no client traffic
        # ... sent with the provider's credentials (the simulator checks the key, too)
        assert all(any(KEY in v for v in r["headers"].values()) for r in sim.requests)
    finally:
        await running.stop(drain_seconds=0)
        if sim is not None:
            await sim.stop()
    assert all(t.done() for t in running.health_checks)


@pytest.mark.parametrize(
    ("provider", "check", "problem"),
    [
        ({"name": "b", "vendor": "bedrock", "region": "us-east-1"}, {}, "not supported for Bedrock"),
        ({"name": "b", "vendor": "simulator", "format": "bedrock_converse"}, {}, "not supported for Bedrock"),
        ({"name": "b", "vendor": "openai", "api_key": "k"}, {"interval_s": 0}, "interval_s: must be > 0"),
        ({"name": "b", "vendor": "openai", "api_key": "k"}, {"timeout_s": -1}, "timeout_s: must be > 0"),
    ],
)
def test_health_check_config_is_validated(provider: dict[str, Any], check: dict[str, Any], problem: str) -> None:
    for where in ("provider", "deployment"):
        p = dict(provider)
        d: dict[str, Any] = {"provider": "b", "model": "x"}
        (p if where == "provider" else d)["health_check"] = check
        with pytest.raises(ConfigError) as e:
            parse_config({"providers": [p], "models": [{"name": "m", "deployments": [d]}]})
        at = "providers[0].health_check" if where == "provider" else "models[0].deployments[0].health_check"
        assert any(x.startswith(at) and problem in x for x in e.value.problems), e.value.problems


async def test_checks_follow_a_swapped_runtime() -> None:
    """A reload swaps the runtime (and a changed breaker policy makes a new breaker): the
    checks feed the breaker of the runtime in use now, not the one they started with."""
    import msgspec

    from switchgear.runtime import build_runtime

    port = _free_port()
    cfg = _config(port, "openai_chat")
    running = await serve.start(cfg, "127.0.0.1", 0)
    try:
        old = running.gateway.runtime
        await _wait_for(lambda: old.breakers["up/m"].state(time.monotonic()) != "closed")
        model = msgspec.structs.replace(cfg.models[0], breaker=msgspec.structs.replace(
            cfg.models[0].breaker, consecutive_failures=3))
        new = build_runtime(msgspec.structs.replace(cfg, models=(model,)), previous=old)
        assert new.breakers["up/m"] is not old.breakers["up/m"]
        running.gateway.swap(new)
        await old.aclose()
        await _wait_for(lambda: new.breakers["up/m"].state(time.monotonic()) != "closed")
    finally:
        await running.stop(drain_seconds=0)
