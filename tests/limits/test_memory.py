"""The memory backend with a fake clock: exact refill arithmetic, expiry and grace, and
memory that stays bounded."""

from __future__ import annotations

import pytest

from switchgear.limits.backend import LATE_GRACE_S, PURGE_MAX
from switchgear.limits.memory import MemoryBackend
from switchgear.limits.types import Admission, Admitted, BudgetKey, RateKey, Refused

C = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def mem(clock: Clock) -> MemoryBackend:
    return MemoryBackend(clock=clock)


def adm(t: str, budgets=(), reserve=C, rates=(), tokens=0, ttl=60.0) -> Admission:  # type: ignore[no-untyped-def]
    return Admission(t, tuple(budgets), reserve, tuple(rates), tokens, ttl)


def test_rpm_refills_continuously(mem: MemoryBackend, clock: Clock) -> None:
    rk = RateKey("r", "", rpm=60)
    assert all(isinstance(mem.admit_now(adm(f"a{i}", rates=[rk])), Admitted) for i in range(60))
    r = mem.admit_now(adm("x", rates=[rk]))
    assert isinstance(r, Refused) and r.retry_after_s == 1.0 and r.used == 60
    clock.t += 0.5
    r = mem.admit_now(adm("x", rates=[rk]))
    assert isinstance(r, Refused) and r.retry_after_s == 0.5 and r.used == 60
    clock.t += 0.5
    ok = mem.admit_now(adm("x", rates=[rk]))
    assert isinstance(ok, Admitted)
    assert (ok.rates[0].remaining_requests, ok.rates[0].reset_requests_s) == (0, 60.0)
    # Over a minute, exactly the capacity again — never more.
    admitted = 0
    for step in range(480):
        clock.t += 0.125  # exact in binary, so the minute ends exactly
        admitted += isinstance(mem.admit_now(adm(f"m{step}", rates=[rk])), Admitted)
    assert admitted == 60


def test_bucket_never_exceeds_capacity_after_idling(mem: MemoryBackend, clock: Clock) -> None:
    rk = RateKey("r", "", rpm=10)
    mem.admit_now(adm("a", rates=[rk]))
    clock.t += 3600
    results = [mem.admit_now(adm(f"b{i}", rates=[rk])) for i in range(20)]
    assert sum(isinstance(r, Admitted) for r in results) == 10


def test_tpm_charge_waits_for_refill(mem: MemoryBackend, clock: Clock) -> None:
    rk = RateKey("t", "", tpm=6_000)  # 100 tokens per second
    mem.admit_now(adm("a", rates=[rk], tokens=1_000))
    mem.complete_now("a", 0, 9_000)  # 6000 - 9000 = -3000
    r = mem.admit_now(adm("b", rates=[rk], tokens=500))
    assert isinstance(r, Refused) and r.retry_after_s == 35.0 and r.used == 9_000
    clock.t += 35
    ok = mem.admit_now(adm("b", rates=[rk], tokens=500))
    assert isinstance(ok, Admitted) and ok.rates[0].remaining_tokens == 0
    assert ok.rates[0].reset_tokens_s == 60.0


def test_expired_ticket_settles_late_then_is_forgotten(mem: MemoryBackend, clock: Clock) -> None:
    bk = BudgetKey("b", "", 0, None, 10 * C)
    rk = RateKey("c", "", concurrent=1)
    mem.admit_now(adm("a", [bk], 4 * C, [rk], ttl=10))
    mem.admit_now(adm("b", [bk], 4 * C, ttl=10))
    clock.t += 10  # expiry is inclusive: at now + ttl it is gone
    assert isinstance(mem.admit_now(adm("c", [bk], 2 * C, [rk], ttl=1000)), Admitted)
    # "a" is late but within the grace: its spend counts; "c" keeps its own hold.
    mem.complete_now("a", 3 * C, 0)
    clock.t += LATE_GRACE_S + 1
    mem.admit_now(adm("d", ttl=1000))  # housekeeping runs on admit
    assert not mem.holds("b")
    mem.complete_now("b", 3 * C, 0)  # too late: forgotten
    assert mem.holds("c")
    assert isinstance(mem.admit_now(adm("e", rates=[rk])), Refused)


async def test_expiry_release_is_bounded_per_call_and_late_never_early(mem: MemoryBackend, clock: Clock) -> None:
    bk = BudgetKey("b", "", 0, None, 10_000 * C)
    for i in range(PURGE_MAX + 500):
        mem.admit_now(adm(f"a{i}", [bk], C, ttl=5))
    clock.t += 5
    assert await mem.budget_usage(bk) == (0, 500 * C)  # the first 1000 released
    assert await mem.budget_usage(bk) == (0, 0)


def test_memory_stays_bounded(mem: MemoryBackend, clock: Clock) -> None:
    for day in range(60):  # two months of daily budgets, per user, and per-user rate limits
        start = int(clock.t) // 86_400 * 86_400
        for u in range(100):
            bk = BudgetKey("daily", f"u{u}", start, start + 86_400, 10 * C)
            rk = RateKey("rpm", f"u{u}-{day}", rpm=600)
            t = f"{day}-{u}"
            assert isinstance(mem.admit_now(adm(t, [bk], C, [rk])), Admitted)
            mem.complete_now(t, C, 0)
        clock.t += 86_400
    assert len(mem._tickets) == 0
    assert len(mem._heap) <= 2 * 1024 + 1
    assert len(mem._budgets) <= 2 * 1024 + 100  # finished periods are swept
    assert len(mem._rates) <= 2 * 1024 + 100  # full, idle buckets are swept


def test_sweeping_never_drops_a_held_counter(mem: MemoryBackend, clock: Clock) -> None:
    start = int(clock.t) // 86_400 * 86_400
    held = BudgetKey("daily", "held", start, start + 86_400, 10 * C)
    conc = RateKey("c", "held", concurrent=1)
    mem.admit_now(adm("h", [held], 5 * C, [conc], ttl=10 * 86_400))
    clock.t += 5 * 86_400  # its period ended long ago
    for i in range(3000):
        mem.admit_now(adm(f"x{i}", [BudgetKey("o", f"{i}", start, start + 1, C)], 0, [RateKey("r", f"{i}", rpm=6000)]))
        mem.complete_now(f"x{i}", 0, 0)
    assert mem.has_budget(held)
    assert isinstance(mem.admit_now(adm("y", rates=[conc])), Refused)
    mem.complete_now("h", 5 * C, 0)
    assert isinstance(mem.admit_now(adm("z", rates=[conc])), Admitted)
