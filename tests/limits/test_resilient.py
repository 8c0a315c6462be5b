"""Redis unreachable: fail closed or fail open, tested by killing (and freezing) a private
redis-server in the middle of load, then bringing it back."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from switchgear.limits.memory import MemoryBackend
from switchgear.limits.redis_backend import RedisBackend
from switchgear.limits.resilient import LimitsUnavailable, ResilientBackend
from switchgear.limits.types import Admission, Admitted, BudgetKey, RateKey, Refused
from tests.limits.support import OwnRedis

C = 1_000_000
GUARD = 5.0  # seconds: "does not hang", not a timing assertion
_ids = itertools.count()


def adm(budgets=(), reserve=C, rates=(), tokens=0, ttl=60.0) -> Admission:  # type: ignore[no-untyped-def]
    return Admission(f"r-{next(_ids)}", tuple(budgets), reserve, tuple(rates), tokens, ttl)


async def eventually(cond: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD
    while True:
        v = cond()
        if not isinstance(v, bool):
            v = await v
        if v:
            return
        assert loop.time() < deadline, f"timed out waiting for: {what}"
        await asyncio.sleep(0.02)


class Rig:
    def __init__(self, server: OwnRedis, mode: str) -> None:
        self.server = server
        self.primary = RedisBackend(server.url, key_prefix="sg:", timeout_ms=150)
        self.local = MemoryBackend()
        self.backend = ResilientBackend(self.primary, mode, self.local, probe_initial_s=0.05, probe_max_s=0.2)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        await self.backend.aclose()


@pytest.fixture
async def closed(own_redis: OwnRedis) -> AsyncIterator[Rig]:
    rig = Rig(own_redis, "closed")
    yield rig
    await rig.aclose()


@pytest.fixture
async def open_(own_redis: OwnRedis) -> AsyncIterator[Rig]:
    rig = Rig(own_redis, "open")
    yield rig
    await rig.aclose()


async def load(backend: ResilientBackend, bk: BudgetKey, stop: asyncio.Event, log: list[str]) -> None:
    """One client: admit, 'call upstream', settle; record what happened."""
    while not stop.is_set():
        a = adm([bk], reserve=C)
        try:
            r = await asyncio.wait_for(backend.admit(a), GUARD)
        except LimitsUnavailable:
            log.append("unavailable")
            await asyncio.sleep(0.005)
            continue
        if isinstance(r, Refused):
            log.append("refused")
            await asyncio.sleep(0.005)
            continue
        log.append("local" if backend._local.holds(a.ticket) else "shared")
        await asyncio.sleep(0.001)
        await asyncio.wait_for(backend.complete(a.ticket, C // 10, 0), GUARD)


async def test_fail_closed_refuses_promptly_and_recovers(closed: Rig) -> None:
    backend = closed.backend
    bk = BudgetKey("b", "", 0, None, 1_000_000 * C)
    stop, log = asyncio.Event(), []
    workers = [asyncio.create_task(load(backend, bk, stop, log)) for _ in range(8)]
    await eventually(lambda: log.count("shared") >= 50, "load against redis")
    closed.server.kill()
    await eventually(lambda: log.count("unavailable") >= 20, "fail closed under load")
    assert not backend.primary_up
    assert "local" not in log
    # While down, nobody waits for Redis: the answer is immediate.
    with pytest.raises(LimitsUnavailable) as e:
        await asyncio.wait_for(backend.admit(adm([bk])), 0.05)
    assert e.value.status == 503 and e.value.retry_after is not None

    closed.server.start()
    await eventually(lambda: backend.primary_up, "redis used again")
    n = log.count("shared")
    await eventually(lambda: log.count("shared") > n + 20, "load against redis again")
    stop.set()
    await asyncio.gather(*workers)
    assert "local" not in log and "refused" not in log


async def test_fail_closed_on_a_hung_server(closed: Rig) -> None:
    # A frozen server answers nothing: the first admit waits out the timeout, the ones after
    # it are refused at once. The admit that timed out did run once the server thawed —
    # and is released when Redis is back, so its reservation is not held for the ttl.
    backend = closed.backend
    bk = BudgetKey("b", "", 0, None, 10 * C)
    assert isinstance(await backend.admit(adm([bk])), Admitted)
    closed.server.freeze()
    with pytest.raises(LimitsUnavailable):
        await asyncio.wait_for(backend.admit(adm([bk], reserve=5 * C)), GUARD)
    with pytest.raises(LimitsUnavailable):
        await asyncio.wait_for(backend.admit(adm([bk])), 0.05)
    closed.server.thaw()
    await eventually(lambda: backend.primary_up and backend.pending == 0, "recovered and replayed")
    assert await closed.primary.budget_usage(bk) == (0, C)  # only the first admit holds


async def test_settlements_made_while_down_are_replayed(closed: Rig) -> None:
    backend = closed.backend
    bk = BudgetKey("b", "", 0, None, 10 * C, (3 * C,))
    a = adm([bk], reserve=4 * C)
    assert isinstance(await backend.admit(a), Admitted)
    closed.server.kill()
    with pytest.raises(LimitsUnavailable):
        await backend.admit(adm([bk]))
    done = await asyncio.wait_for(backend.complete(a.ticket, 3 * C, 0), GUARD)  # never raises
    assert done.crossed == ()
    assert backend.pending == 2  # this settlement, and a release of the admit that failed
    closed.server.start()  # a fresh, empty server: the ticket is unknown there now
    await eventually(lambda: backend.primary_up and backend.pending == 0, "replayed")


async def test_replay_settles_the_ticket_on_a_surviving_server(closed: Rig) -> None:
    backend = closed.backend
    bk = BudgetKey("b", "", 0, None, 10 * C)
    a = adm([bk], reserve=4 * C)
    assert isinstance(await backend.admit(a), Admitted)
    closed.server.freeze()
    await asyncio.wait_for(backend.complete(a.ticket, 3 * C, 0), GUARD)
    assert not backend.primary_up and backend.pending == 1
    closed.server.thaw()
    await eventually(lambda: backend.primary_up and backend.pending == 0, "replayed")
    assert await closed.primary.budget_usage(bk) == (3 * C, 0)


async def test_fail_open_enforces_local_limits_and_reconciles(open_: Rig) -> None:
    backend = open_.backend
    bk = BudgetKey("b", "", 0, None, 10 * C, (8 * C,))
    for _ in range(3):  # 3 of 10 spent in Redis
        a = adm([bk])
        assert isinstance(await backend.admit(a), Admitted)
        await backend.complete(a.ticket, C, 0)

    open_.server.kill()
    # The local counter starts from the last usage Redis reported (3), not from zero.
    results = []
    for _ in range(10):
        a = adm([bk])
        r = await asyncio.wait_for(backend.admit(a), GUARD)
        results.append(r)
        if isinstance(r, Admitted):
            assert open_.local.holds(a.ticket)
            done = await backend.complete(a.ticket, C, 0)
            assert done.crossed == ()  # local settlements do not alert (every process would)
    assert sum(isinstance(r, Admitted) for r in results) == 7
    refused = [r for r in results if isinstance(r, Refused)]
    assert refused and all(r.kind == "budget" and r.used == 10 * C for r in refused)

    open_.server.start()  # empty: everything it knew is gone; reconciliation adds what we spent
    await eventually(lambda: backend.primary_up and backend.pending == 0, "back and reconciled")
    assert await open_.primary.budget_usage(bk) == (7 * C, 0)
    a = adm([bk], reserve=3 * C)
    assert isinstance(await backend.admit(a), Admitted)
    assert not open_.local.holds(a.ticket)  # Redis decides again
    done = await backend.complete(a.ticket, 2 * C, 0)
    # The threshold crossed while failing open is reported once, from the shared store.
    assert [c.threshold_nano for c in done.crossed] == [8 * C]


async def test_fail_open_under_load_then_back(open_: Rig) -> None:
    backend = open_.backend
    bk = BudgetKey("b", "", 0, None, 1_000_000 * C)
    rk = RateKey("conc", "", concurrent=4)
    stop, log = asyncio.Event(), []
    generation = 0  # which redis-server: 0 the first, 1 the restarted one

    async def worker() -> None:
        while not stop.is_set():
            a = adm([bk], rates=[rk])
            r = await asyncio.wait_for(backend.admit(a), GUARD)
            if isinstance(r, Refused):
                log.append(r.kind)
                await asyncio.sleep(0.002)
                continue
            log.append("local" if open_.local.holds(a.ticket) else f"shared{generation}")
            await asyncio.sleep(0.002)
            await asyncio.wait_for(backend.complete(a.ticket, C, 0), GUARD)

    workers = [asyncio.create_task(worker()) for _ in range(8)]
    await eventually(lambda: log.count("shared0") >= 30, "load against redis")
    open_.server.kill()
    await eventually(lambda: log.count("local") >= 30, "admissions continue locally")
    # The local concurrency limit holds: 8 workers, 4 slots.
    assert "concurrency" in log
    assert open_.local._rates["conc|"].slots <= 4
    generation = 1
    open_.server.start()
    await eventually(lambda: log.count("shared1") >= 30, "admissions go to redis again")
    stop.set()
    await asyncio.gather(*workers)
    await eventually(lambda: backend.pending == 0, "reconciled")
    # The restarted server knew nothing: it now holds exactly what was spent locally while
    # it was away plus what was spent against it since.
    assert await open_.primary.budget_usage(bk) == ((log.count("local") + log.count("shared1")) * C, 0)


async def test_a_request_no_limit_applies_to_needs_no_store(closed: Rig) -> None:
    closed.server.kill()
    a = adm()
    r = await asyncio.wait_for(closed.backend.admit(a), GUARD)
    assert isinstance(r, Admitted)
    await closed.backend.complete(a.ticket, C, 10)
    assert closed.backend.primary_up  # nothing tried to reach it
    assert closed.backend.pending == 0


def test_mode_is_checked() -> None:
    with pytest.raises(ValueError):
        ResilientBackend(MemoryBackend(), "sideways", MemoryBackend())  # type: ignore[arg-type]


async def test_open_backend_builds_what_the_config_asks_for(own_redis: OwnRedis) -> None:
    from switchgear.limits.backend import open_backend

    assert isinstance(open_backend(backend="memory"), MemoryBackend)
    b = open_backend(backend="redis", redis_url=own_redis.url, key_prefix="x:", on_backend_error="open")
    try:
        assert isinstance(b, ResilientBackend)
        r = await b.admit(adm([BudgetKey("b", "", 0, None, C)]))
        assert isinstance(r, Admitted) and b.primary_up
    finally:
        await b.aclose()
