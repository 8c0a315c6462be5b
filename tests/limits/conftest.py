"""One test suite, both backends: ``limits`` yields a factory of backend handles that share
one store — the same MemoryBackend, or a new RedisBackend ("another process") on the same
Redis prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from switchgear.limits.backend import LimitsBackend
from switchgear.limits.memory import MemoryBackend
from switchgear.limits.redis_backend import RedisBackend
from tests.limits.support import SHARED_REDIS_URL, OwnRedis, delete_keys, unique_prefix


class Handles:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.prefix = unique_prefix()
        self._opened: list[LimitsBackend] = []
        self._memory = MemoryBackend() if kind == "memory" else None

    def __call__(self) -> LimitsBackend:
        if self._memory is not None:
            return self._memory
        b = RedisBackend(SHARED_REDIS_URL, key_prefix=self.prefix, timeout_ms=2000)
        self._opened.append(b)
        return b

    async def aclose(self) -> None:
        for b in self._opened:
            await b.aclose()
        if self.kind == "redis":
            delete_keys(SHARED_REDIS_URL, self.prefix)


@pytest.fixture(params=["memory", "redis"])
async def handles(request: pytest.FixtureRequest) -> AsyncIterator[Handles]:
    h = Handles(request.param)
    try:
        yield h
    finally:
        await h.aclose()


@pytest.fixture
def backend(handles: Handles) -> LimitsBackend:
    return handles()


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    r = OwnRedis()
    try:
        yield r
    finally:
        r.close()


MakeBackend = Callable[[], LimitsBackend]
