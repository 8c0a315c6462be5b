"""The limits contract, run against both backends (memory and Redis) with the same tests.

Time here is real (the Redis backend uses the server's clock), so rate tests state their
tolerance: a bucket refills rpm/60 per second, and a burst admits exactly its capacity plus
whatever refilled while the burst was running.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from switchgear.limits.backend import DuplicateTicket, LimitsBackend
from switchgear.limits.types import Admission, Admitted, BudgetKey, RateKey, Refused
from tests.limits.conftest import Handles

C = 1_000_000  # one request's worst case: $0.001 in nano-USD
_ids = itertools.count()


def ticket() -> str:
    return f"req-{next(_ids)}"


def adm(
    budgets: tuple[BudgetKey, ...] = (),
    reserve: int = C,
    rates: tuple[RateKey, ...] = (),
    tokens: int = 0,
    ttl: float = 60.0,
    t: str | None = None,
) -> Admission:
    return Admission(t or ticket(), budgets, reserve, rates, tokens, ttl)


def budget(name: str = "team", limit: int = 100 * C, *, period: int = 0, soft: tuple[int, ...] = ()) -> BudgetKey:
    reset = None if period == 0 else period + 86_400
    return BudgetKey(name, "", period, reset, limit, soft)


async def admit_many(b: LimitsBackend, admissions: list[Admission]) -> list[Admitted | Refused]:
    return list(await asyncio.gather(*(b.admit(a) for a in admissions)))


# ---- budgets ------------------------------------------------------------------------


async def test_budget_exact_under_concurrency(backend: LimitsBackend) -> None:
    bk = budget(limit=100 * C)
    results = await admit_many(backend, [adm((bk,)) for _ in range(500)])
    admitted = [r for r in results if isinstance(r, Admitted)]
    assert len(admitted) == 100
    assert await backend.budget_usage(bk) == (0, 100 * C)
    refused = [r for r in results if isinstance(r, Refused)]
    assert {(r.kind, r.name, r.limit) for r in refused} == {("budget", "team", 100 * C)}
    assert all(r.used == 100 * C for r in refused)

    # Settling below the worst case gives the difference back.
    await asyncio.gather(*(backend.complete(a.ticket, C // 2, 0) for a in admitted))
    assert await backend.budget_usage(bk) == (50 * C, 0)
    results = await admit_many(backend, [adm((bk,)) for _ in range(500)])
    assert sum(isinstance(r, Admitted) for r in results) == 50
    assert await backend.budget_usage(bk) == (50 * C, 50 * C)


async def test_budget_admits_up_to_exactly_the_limit(backend: LimitsBackend) -> None:
    bk = budget(limit=10 * C + 5)
    assert isinstance(await backend.admit(adm((bk,), reserve=10 * C)), Admitted)
    assert isinstance(await backend.admit(adm((bk,), reserve=5)), Admitted)  # == limit is allowed
    r = await backend.admit(adm((bk,), reserve=1))
    assert isinstance(r, Refused) and r.used == 10 * C + 5


async def test_admitted_reports_usage_after_admission(backend: LimitsBackend) -> None:
    a_, b_ = budget("a", 10 * C), budget("b", 10 * C)
    r = await backend.admit(adm((a_, b_), reserve=3 * C))
    assert isinstance(r, Admitted)
    assert r.budgets_used_nano == ((a_, 3 * C), (b_, 3 * C))


async def test_multi_budget_is_all_or_nothing(backend: LimitsBackend) -> None:
    full, roomy, later = budget("full", 2 * C), budget("roomy", 100 * C), budget("later", 100 * C)
    assert isinstance(await backend.admit(adm((full,), reserve=2 * C)), Admitted)
    for order in ((roomy, full, later), (full, roomy, later), (roomy, later, full)):
        r = await backend.admit(adm(order))
        assert isinstance(r, Refused) and r.kind == "budget" and r.name == "full"
    assert await backend.budget_usage(roomy) == (0, 0)
    assert await backend.budget_usage(later) == (0, 0)
    assert await backend.budget_usage(full) == (0, 2 * C)


async def test_a_failing_rate_limit_reserves_no_budget(backend: LimitsBackend) -> None:
    bk = budget(limit=100 * C)
    rk = RateKey("rpm", "", rpm=2, concurrent=5)
    assert isinstance(await backend.admit(adm((bk,), rates=(rk,))), Admitted)
    assert isinstance(await backend.admit(adm((bk,), rates=(rk,))), Admitted)
    r = await backend.admit(adm((bk,), rates=(rk,)))
    assert isinstance(r, Refused) and r.kind == "requests"
    assert await backend.budget_usage(bk) == (0, 2 * C)
    # ... and took no concurrency slot either: 3 more fit once requests allow (none here).
    conc = RateKey("rpm", "", concurrent=5)
    results = await admit_many(backend, [adm(rates=(conc,)) for _ in range(5)])
    assert sum(isinstance(x, Admitted) for x in results) == 3


async def test_settle_and_release(backend: LimitsBackend) -> None:
    bk = budget(limit=10 * C)
    a1, a2 = adm((bk,), reserve=4 * C), adm((bk,), reserve=4 * C)
    await backend.admit(a1)
    await backend.admit(a2)
    assert await backend.budget_usage(bk) == (0, 8 * C)
    await backend.complete(a1.ticket, 3 * C, 0)  # settle to the actual cost
    assert await backend.budget_usage(bk) == (3 * C, 4 * C)
    await backend.complete(a2.ticket, 0, 0)  # failure / disconnect: release
    assert await backend.budget_usage(bk) == (3 * C, 0)


async def test_settlement_above_the_reservation_is_recorded(backend: LimitsBackend) -> None:
    # The worst case was wrong (unknown max_tokens): the truth is still recorded, and the
    # budget then refuses until there is room again.
    bk = budget(limit=10 * C)
    a = adm((bk,), reserve=2 * C)
    await backend.admit(a)
    await backend.complete(a.ticket, 11 * C, 0)
    assert await backend.budget_usage(bk) == (11 * C, 0)
    r = await backend.admit(adm((bk,), reserve=0))  # even a free request: 11 + 0 > 10
    assert isinstance(r, Refused) and r.used == 11 * C


async def test_complete_is_idempotent(backend: LimitsBackend) -> None:
    bk = budget(limit=10 * C, soft=(C,))
    rk = RateKey("c", "", concurrent=1, tpm=1000)
    a = adm((bk,), reserve=2 * C, rates=(rk,), tokens=100)
    await backend.admit(a)
    first = await backend.complete(a.ticket, 2 * C, 50)
    assert len(first.crossed) == 1
    second = await backend.complete(a.ticket, 2 * C, 50)
    assert second.crossed == ()
    assert await backend.budget_usage(bk) == (2 * C, 0)
    # The slot was freed once, not twice: one fits, the next does not.
    assert isinstance(await backend.admit(adm(rates=(rk,))), Admitted)
    assert isinstance(await backend.admit(adm(rates=(rk,))), Refused)
    # Unknown tickets are a no-op too.
    assert (await backend.complete("never-admitted", 5 * C, 5)).crossed == ()
    assert await backend.budget_usage(bk) == (2 * C, 0)


async def test_duplicate_ticket_is_rejected(backend: LimitsBackend) -> None:
    bk = budget()
    a = adm((bk,))
    await backend.admit(a)
    with pytest.raises(DuplicateTicket):
        await backend.admit(a)
    assert await backend.budget_usage(bk) == (0, C)


async def test_expired_ticket_releases_budget_and_slot(backend: LimitsBackend) -> None:
    bk = budget(limit=2 * C)
    rk = RateKey("conc", "", concurrent=1)
    a = adm((bk,), reserve=2 * C, rates=(rk,), ttl=0.5)
    assert isinstance(await backend.admit(a), Admitted)
    assert isinstance(await backend.admit(adm((bk,), reserve=C)), Refused)
    assert isinstance(await backend.admit(adm(rates=(rk,))), Refused)
    await asyncio.sleep(0.7)
    assert await backend.budget_usage(bk) == (0, 0)
    b = adm((bk,), reserve=2 * C, rates=(rk,))
    assert isinstance(await backend.admit(b), Admitted)
    # The expired ticket completes late: its spend is recorded, nothing is released twice.
    await backend.complete(a.ticket, C, 0)
    assert await backend.budget_usage(bk) == (C, 2 * C)
    assert isinstance(await backend.admit(adm(rates=(rk,))), Refused)  # b still holds the slot
    await backend.complete(b.ticket, C, 0)
    assert await backend.budget_usage(bk) == (2 * C, 0)
    assert isinstance(await backend.admit(adm(rates=(rk,))), Admitted)


async def test_new_period_starts_fresh(backend: LimitsBackend) -> None:
    today = int(time.time()) // 86_400 * 86_400
    day1 = budget("daily", 5 * C, period=today)
    day2 = budget("daily", 5 * C, period=today + 86_400)
    a = adm((day1,), reserve=5 * C)
    await backend.admit(a)
    await backend.complete(a.ticket, 5 * C, 0)
    r = await backend.admit(adm((day1,)))
    assert isinstance(r, Refused) and r.reset_at == day1.reset_at and r.used == 5 * C and r.limit == 5 * C
    assert r.retry_after_s is None
    assert isinstance(await backend.admit(adm((day2,), reserve=5 * C)), Admitted)
    assert await backend.budget_usage(day1) == (5 * C, 0)
    assert await backend.budget_usage(day2) == (0, 5 * C)


async def test_per_instance_budgets_are_separate(backend: LimitsBackend) -> None:
    alice = BudgetKey("per-user", "alice", 0, None, 2 * C)
    bob = BudgetKey("per-user", "bob", 0, None, 2 * C)
    await backend.admit(adm((alice,), reserve=2 * C))
    r = await backend.admit(adm((alice,)))
    assert isinstance(r, Refused) and r.instance == "alice"
    assert isinstance(await backend.admit(adm((bob,), reserve=2 * C)), Admitted)


async def test_soft_thresholds_reported_once_across_processes(handles: Handles) -> None:
    p1, p2 = handles(), handles()
    bk = budget(limit=1000 * C, soft=(100 * C, 500 * C, 800 * C))
    tickets = [adm((bk,), reserve=10 * C) for _ in range(100)]
    for i, a in enumerate(tickets):
        assert isinstance(await (p1 if i % 2 else p2).admit(a), Admitted)
    done = await asyncio.gather(
        *((p1 if i % 3 else p2).complete(a.ticket, 9 * C, 0) for i, a in enumerate(tickets))
    )
    crossed = [c for d in done for c in d.crossed]
    assert sorted(c.threshold_nano for c in crossed) == [100 * C, 500 * C, 800 * C]
    for c in crossed:
        assert c.budget == bk
        assert c.spent_nano >= c.threshold_nano
    # Past every threshold: nothing more is reported this period.
    extra = adm((bk,), reserve=10 * C)
    await p1.admit(extra)
    assert (await p2.complete(extra.ticket, 10 * C, 0)).crossed == ()


async def test_one_settlement_can_cross_several_thresholds(backend: LimitsBackend) -> None:
    bk = budget(limit=100 * C, soft=(10 * C, 20 * C, 90 * C))
    a = adm((bk,), reserve=50 * C)
    await backend.admit(a)
    done = await backend.complete(a.ticket, 25 * C, 0)
    assert [(c.threshold_nano, c.spent_nano) for c in done.crossed] == [(10 * C, 25 * C), (20 * C, 25 * C)]


# ---- rate limits ----------------------------------------------------------------------


async def test_rpm_burst_then_refill(backend: LimitsBackend) -> None:
    rk = RateKey("rpm", "", rpm=60)
    start = time.monotonic()
    results = await admit_many(backend, [adm(rates=(rk,)) for _ in range(200)])
    elapsed = time.monotonic() - start
    n = sum(isinstance(r, Admitted) for r in results)
    # Exactly the capacity, plus what refilled during the burst (1 per second).
    assert 60 <= n <= 60 + int(elapsed) + 1
    refused = [r for r in results if isinstance(r, Refused)]
    assert all(r.kind == "requests" and r.limit == 60 for r in refused)
    assert all(r.retry_after_s is not None and 0 < r.retry_after_s <= 1.0 for r in refused)

    r = await backend.admit(adm(rates=(rk,)))
    if isinstance(r, Admitted):  # a refill landed just now; the next one cannot
        r = await backend.admit(adm(rates=(rk,)))
    assert isinstance(r, Refused) and r.retry_after_s is not None
    await asyncio.sleep(r.retry_after_s + 0.02)
    ok = await backend.admit(adm(rates=(rk,)))
    assert isinstance(ok, Admitted)
    assert ok.rates[0].remaining_requests == 0
    # Full again after ~60 s (a whole bucket at 1/s), reported for the reset header.
    assert ok.rates[0].reset_requests_s is not None and 55 < ok.rates[0].reset_requests_s <= 60
    again = await backend.admit(adm(rates=(rk,)))
    assert isinstance(again, Refused) and again.retry_after_s is not None and 0 < again.retry_after_s <= 1.0


async def test_rate_state_reports_remaining_and_reset(backend: LimitsBackend) -> None:
    rk = RateKey("both", "", rpm=600, tpm=60_000)
    r = await backend.admit(adm(rates=(rk,), tokens=1_000))
    assert isinstance(r, Admitted)
    (s,) = r.rates
    assert (s.name, s.limit_requests, s.remaining_requests) == ("both", 600, 599)
    assert (s.limit_tokens, s.remaining_tokens) == (60_000, 59_000)
    assert s.reset_requests_s == pytest.approx(0.1, abs=0.002)  # 1 request at 10/s
    assert s.reset_tokens_s == pytest.approx(1.0, abs=0.002)  # 1000 tokens at 1000/s


async def test_most_constrained_rate_first(backend: LimitsBackend) -> None:
    loose = RateKey("loose", "", rpm=1000)
    tight = RateKey("tight", "", rpm=2)
    r = await backend.admit(adm(rates=(loose, tight)))
    assert isinstance(r, Admitted)
    assert [s.name for s in r.rates] == ["tight", "loose"]


async def test_rpm_accuracy_under_concurrency_across_processes(handles: Handles) -> None:
    rk = RateKey("rpm", "shared", rpm=300)
    p1, p2 = handles(), handles()
    start = time.monotonic()
    results = await admit_many(p1, [adm(rates=(rk,)) for _ in range(300)])
    results += await admit_many(p2, [adm(rates=(rk,)) for _ in range(300)])
    elapsed = time.monotonic() - start
    n = sum(isinstance(r, Admitted) for r in results)
    assert 300 <= n <= 300 + int(elapsed * 5) + 1  # refill: 5 per second


async def test_tpm_estimate_corrected_down(backend: LimitsBackend) -> None:
    rk = RateKey("tpm", "", tpm=60_000)
    a = adm(rates=(rk,), tokens=50_000)
    await backend.admit(a)
    r = await backend.admit(adm(rates=(rk,), tokens=40_000))
    assert isinstance(r, Refused) and r.kind == "tokens" and r.limit == 60_000
    assert r.retry_after_s is not None and 29 < r.retry_after_s <= 30.01  # 30k short at 1k/s
    await backend.complete(a.ticket, 0, 10_000)  # refund 40k
    r = await backend.admit(adm(rates=(rk,), tokens=40_000))
    assert isinstance(r, Admitted)
    assert 10_000 <= r.rates[0].remaining_tokens <= 12_000  # plus the refill (1k/s) meanwhile


async def test_tpm_estimate_corrected_up_goes_negative(backend: LimitsBackend) -> None:
    rk = RateKey("tpm", "", tpm=60_000)
    a = adm(rates=(rk,), tokens=10_000)
    await backend.admit(a)
    await backend.complete(a.ticket, 0, 90_000)  # charged 80k more: 60k - 90k = -30k
    r = await backend.admit(adm(rates=(rk,), tokens=0))
    assert isinstance(r, Refused) and r.kind == "tokens"
    assert r.retry_after_s is not None and 29 < r.retry_after_s <= 30.0
    assert 88_000 <= r.used <= 90_000  # in use: capacity minus a level near -30k


async def test_refund_is_capped_at_capacity(backend: LimitsBackend) -> None:
    rk = RateKey("tpm", "", tpm=1_000)
    a = adm(rates=(rk,), tokens=500)
    await backend.admit(a)
    await backend.complete(a.ticket, 0, 0)
    r = await backend.admit(adm(rates=(rk,), tokens=1_000))
    assert isinstance(r, Admitted) and r.rates[0].remaining_tokens == 0


async def test_request_larger_than_tpm_never_fits(backend: LimitsBackend) -> None:
    rk = RateKey("tpm", "", tpm=1_000)
    r = await backend.admit(adm(rates=(rk,), tokens=1_001))
    assert isinstance(r, Refused) and r.kind == "tokens" and r.retry_after_s is None and r.used == 0


async def test_zero_limits_refuse_everything(backend: LimitsBackend) -> None:
    for rk, kind in (
        (RateKey("z", "", rpm=0), "requests"),
        (RateKey("z", "", tpm=0), "tokens"),
        (RateKey("z", "", concurrent=0), "concurrency"),
    ):
        r = await backend.admit(adm(rates=(rk,)))
        assert isinstance(r, Refused) and r.kind == kind and r.retry_after_s is None


async def test_concurrency_slots(backend: LimitsBackend) -> None:
    rk = RateKey("conc", "u", concurrent=3)
    results = await admit_many(backend, [adm(rates=(rk,)) for _ in range(10)])
    admitted = [r for r in results if isinstance(r, Admitted)]
    assert len(admitted) == 3
    refused = [r for r in results if isinstance(r, Refused)]
    assert all((r.kind, r.limit, r.used, r.instance) == ("concurrency", 3, 3, "u") for r in refused)
    assert admitted[0].rates == ()  # concurrency has no x-ratelimit headers
    await backend.complete(admitted[0].ticket, 0, 0)
    assert isinstance(await backend.admit(adm(rates=(rk,))), Admitted)
    assert isinstance(await backend.admit(adm(rates=(rk,))), Refused)


async def test_per_instance_rate_limits_are_separate(backend: LimitsBackend) -> None:
    a, b = RateKey("per-key", "a", rpm=1), RateKey("per-key", "b", rpm=1)
    assert isinstance(await backend.admit(adm(rates=(a,))), Admitted)
    assert isinstance(await backend.admit(adm(rates=(a,))), Refused)
    assert isinstance(await backend.admit(adm(rates=(b,))), Admitted)


async def test_first_failure_is_reported(backend: LimitsBackend) -> None:
    bk = budget(limit=C)
    await backend.admit(adm((bk,)))
    rk = RateKey("conc", "", concurrent=0)
    r = await backend.admit(adm((bk,), rates=(rk,)))
    assert isinstance(r, Refused) and r.kind == "budget"


async def test_a_free_request_settles_cleanly(backend) -> None:  # type: ignore[no-untyped-def]
    """An unpriced model reserves 0: settling must not send Redis a "-0" (regression)."""
    key = BudgetKey("free", "", 0, None, 10 * C)
    ok = await backend.admit(Admission("t-free", (key,), 0, (), 0, 60.0))
    assert isinstance(ok, Admitted)
    await backend.complete("t-free", 0, 0)
    assert await backend.budget_usage(key) == (0, 0)
