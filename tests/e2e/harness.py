"""A real gateway process in front of a real simulator, for end-to-end tests.

The simulator (the faithful fake of every provider) runs in a thread with its own
event loop so tests can script its faults and read what the gateway sent it; the
gateway runs as `switchgear serve` in a subprocess, exactly as a user starts it;
clients are the official SDKs.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from switchgear.simulator import Simulator, SimulatorConfig

CLIENT_KEY = "sk-e2e-client-key-0123456789"
UPSTREAM_KEY = "sk-e2e-upstream-key"


class SimThread:
    """The simulator on its own loop in a daemon thread; calls are marshalled in."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(config)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.host, self.port = self.run(self.sim.start("127.0.0.1", 0))
        self.url = f"http://{self.host}:{self.port}"

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async def inner() -> Any:
            return fn(*args, **kwargs)

        return self.run(inner())

    def faults(self, *faults: dict[str, Any]) -> None:
        self.call(self.sim.add_faults, list(faults))

    def requests(self) -> list[dict[str, Any]]:
        return self.call(lambda: self.sim.requests)

    def reset(self) -> None:
        self.call(self.sim.reset)

    def close(self) -> None:
        self.run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def gateway_config(sim_url: str, extra_models: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    fast = {"connect": 2, "first_token": 5, "idle": 5, "total": 30}
    providers = [
        {"name": "openai", "vendor": "openai", "base_url": f"{sim_url}/v1", "api_key": UPSTREAM_KEY, "timeouts": fast},
        {"name": "azure", "vendor": "azure", "base_url": sim_url, "api_key": UPSTREAM_KEY, "api_version": "2024-10-21",
         "timeouts": fast},
        {"name": "anthropic", "vendor": "anthropic", "base_url": sim_url, "api_key": UPSTREAM_KEY, "timeouts": fast},
        {"name": "gemini", "vendor": "gemini", "base_url": sim_url, "api_key": UPSTREAM_KEY, "timeouts": fast},
        {"name": "bedrock", "vendor": "bedrock", "base_url": sim_url, "region": "us-east-1",
         "aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
         "timeouts": fast},
        {"name": "vllm", "vendor": "vllm", "base_url": f"{sim_url}/v1", "api_key": UPSTREAM_KEY, "timeouts": fast},
        {"name": "tight", "vendor": "openai", "base_url": f"{sim_url}/v1", "api_key": UPSTREAM_KEY,
         "timeouts": {"connect": 1, "first_token": 1, "idle": 1, "total": 10}},
        {"name": "tight-anthropic", "vendor": "anthropic", "base_url": sim_url, "api_key": UPSTREAM_KEY,
         "timeouts": {"connect": 1, "first_token": 1, "idle": 1, "total": 10}},
        {"name": "dead", "vendor": "openai_compatible", "base_url": "http://127.0.0.1:9/v1",
         "timeouts": {"connect": 1, "first_token": 2, "idle": 2, "total": 5}},
    ]
    models = [
        {"name": "gpt", "deployments": [{"provider": "openai", "model": "gpt-4o"}]},
        {"name": "azure-gpt", "deployments": [{"provider": "azure", "model": "gpt4o-deployment"}]},
        {"name": "claude", "deployments": [{"provider": "anthropic", "model": "claude-sonnet-4-5"}]},
        {"name": "gemini", "deployments": [{"provider": "gemini", "model": "gemini-2.5-flash"}]},
        {"name": "bedrock", "deployments": [{"provider": "bedrock", "model": "anthropic.claude-3-5-sonnet-20240620-v1:0"}]},
        {"name": "llama", "deployments": [{"provider": "vllm", "model": "meta-llama/Llama-3.1-8B-Instruct"}]},
        {"name": "failover", "deployments": [{"provider": "dead", "model": "x"}, {"provider": "anthropic", "model": "claude-sonnet-4-5"}]},
        {"name": "dead", "deployments": [{"provider": "dead", "model": "x"}]},
        {"name": "tight", "deployments": [{"provider": "tight", "model": "gpt-4o"}]},
        {"name": "tight-claude", "deployments": [{"provider": "tight-anthropic", "model": "claude-sonnet-4-5"}]},
        {"name": "embed", "kind": "embeddings", "deployments": [{"provider": "openai", "model": "text-embedding-3-small"}]},
        {"name": "gemini-embed", "kind": "embeddings", "deployments": [{"provider": "gemini", "model": "gemini-embedding-001"}]},
        {"name": "openai/*", "deployments": [{"provider": "openai", "model": "*"}]},
        # Anthropic cannot return logprobs; OpenAI can: a request asking for them skips to it.
        {"name": "claude-then-gpt", "deployments": [{"provider": "anthropic", "model": "claude-sonnet-4-5"},
                                                    {"provider": "openai", "model": "gpt-4o"}]},
    ]
    # These models serve many independent tests that inject faults on purpose; a breaker
    # tripped by one test must not change the next one's outcome. (Breakers are tested in
    # test_routing.py with their own models.)
    lenient = {"consecutive_failures": 1_000_000, "failure_rate": None}
    models = [{**m, "breaker": lenient} for m in models]
    return {
        "server": {"max_body_bytes": 256 * 1024},
        "auth": {"keys": [{"name": "e2e", "key": CLIENT_KEY, "grants": [{"models": ["*"]}]}]},
        "providers": providers,
        "models": models + (extra_models or []),
    }


# ALL the wire formats a chat model can sit behind, by model name.
CHAT_MODELS = ["gpt", "azure-gpt", "claude", "gemini", "bedrock", "llama"]


class GatewayProcess:
    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        path = workdir / "switchgear.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "gateway.log"
        self.log = open(self.log_path, "w+")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "switchgear.cli", "serve", "--config", str(path), "--port", "0"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = self.log_path.read_text()
            m = re.search(r"listening on (http://[\d.]+:\d+)", text)
            if m:
                self.url = m.group(1)
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{text}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not start:\n{self.log_path.read_text()}")

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
