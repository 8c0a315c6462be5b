from __future__ import annotations

import httpx2 as httpx
import pytest

from switchgear.simulator import Simulator, SimulatorConfig


@pytest.fixture
async def sim():
    async with Simulator(SimulatorConfig()) as s:
        yield s


@pytest.fixture
async def http(sim):
    async with httpx.AsyncClient(base_url=sim.url, timeout=5.0) as client:
        yield client
