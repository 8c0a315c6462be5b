from __future__ import annotations

from typing import Iterator

import anthropic
import openai
import pytest

from switchgear.simulator import SimulatorConfig
from tests.e2e.harness import CLIENT_KEY, UPSTREAM_KEY, GatewayProcess, SimThread, gateway_config


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    s = SimThread(SimulatorConfig(api_key=UPSTREAM_KEY, seed=1))
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _fresh_sim(request: pytest.FixtureRequest) -> None:
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").reset()


@pytest.fixture(scope="module")
def gateway(sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    g = GatewayProcess(gateway_config(sim.url), tmp_path_factory.mktemp("gw"))
    yield g
    g.stop()


@pytest.fixture
def oai(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)


@pytest.fixture
def claude(gateway: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)
