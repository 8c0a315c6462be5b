"""Backoff with full jitter and Retry-After; retry and hedge budgets."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchgear.routing.retry import HedgeBudget, RetryBudget, backoff

# ---- backoff ----------------------------------------------------------------------------


def waited(*args: object, **kwargs: object) -> float:
    """backoff() where the test expects a wait, not a fall back."""
    w = backoff(*args, **kwargs)  # type: ignore[arg-type]
    assert w is not None
    return w


def test_full_jitter_uses_the_exponential_ceiling() -> None:
    rng, twin = random.Random(8), random.Random(8)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        assert backoff(attempt, 0.1, 1.0, rng) == pytest.approx(twin.random() * ceiling)


@given(st.integers(1, 10_000), st.floats(0.0, 5.0), st.floats(0.0, 60.0), st.integers(0, 2**32))
@settings(deadline=None, derandomize=True, database=None)
def test_wait_is_within_zero_and_the_ceiling(attempt: int, base: float, cap: float, seed: int) -> None:
    wait = backoff(attempt, base, cap, random.Random(seed))
    assert wait is not None
    assert 0.0 <= wait <= min(cap, base * 2 ** min(attempt - 1, 1000))


def test_jitter_spreads_retries_over_the_whole_interval() -> None:
    rng = random.Random(1)
    waits = [waited(3, 0.5, 10.0, rng) for _ in range(10_000)]  # ceiling 2.0
    assert min(waits) < 0.05 and max(waits) > 1.95
    assert sum(waits) / len(waits) == pytest.approx(1.0, abs=0.03)


def test_attempt_counts_from_one() -> None:
    with pytest.raises(ValueError):
        backoff(0, 0.1, 1.0, random.Random(0))


def test_retry_after_is_a_floor() -> None:
    rng = random.Random(2)
    for _ in range(200):
        assert backoff(1, 0.1, 5.0, rng, retry_after=3.0) == 3.0  # jitter <= 0.1 < 3.0
    # a jittered wait above the Retry-After is kept
    waits = [waited(6, 1.0, 30.0, rng, retry_after=0.5) for _ in range(200)]
    assert all(0.5 <= w <= 30.0 for w in waits)
    assert any(w > 0.5 for w in waits)


def test_retry_after_longer_than_the_caller_will_wait_means_fall_back() -> None:
    rng = random.Random(3)
    assert backoff(1, 0.1, 2.0, rng, retry_after=30.0) is None  # max_wait defaults to cap
    assert backoff(1, 0.1, 2.0, rng, retry_after=30.0, max_wait=29.0) is None
    assert backoff(1, 0.1, 2.0, rng, retry_after=30.0, max_wait=30.0) == 30.0
    assert backoff(1, 0.1, 2.0, rng, retry_after=2.0) == 2.0  # exactly the cap: wait


def test_max_wait_also_caps_the_jittered_wait() -> None:
    rng = random.Random(4)
    waits = [waited(10, 1.0, 60.0, rng, max_wait=0.25) for _ in range(200)]
    assert max(waits) == 0.25


@pytest.mark.parametrize("bad", [-1.0, 0.0, float("nan")])
def test_meaningless_retry_after_is_ignored(bad: float) -> None:
    rng, twin = random.Random(5), random.Random(5)
    assert backoff(2, 0.1, 1.0, rng, retry_after=bad) == pytest.approx(twin.random() * 0.2)


@given(
    st.integers(1, 20),
    st.floats(0.001, 2.0),
    st.floats(0.01, 30.0),
    st.floats(0.001, 100.0),
    st.one_of(st.none(), st.floats(0.01, 100.0)),
    st.integers(0, 2**32),
)
@settings(deadline=None, derandomize=True, database=None)
def test_retry_after_is_never_undercut_and_max_wait_never_exceeded(
    attempt: int, base: float, cap: float, retry_after: float, max_wait: float | None, seed: int
) -> None:
    wait = backoff(attempt, base, cap, random.Random(seed), retry_after, max_wait=max_wait)
    limit = cap if max_wait is None else max_wait
    if retry_after > limit:
        assert wait is None
    else:
        assert wait is not None and retry_after <= wait <= limit


# ---- budgets ----------------------------------------------------------------------------


def test_retries_limited_to_a_ratio_of_requests() -> None:
    b = RetryBudget(ratio=0.2, min_per_second=0.0)
    for i in range(100):
        b.on_request(i * 0.01)
    granted = 0
    while b.try_retry(1.0):
        granted += 1
    assert granted == 20
    assert not b.can_retry(1.0)
    b.on_request(1.0)
    b.on_request(1.0)
    b.on_request(1.0)
    b.on_request(1.0)
    b.on_request(1.0)  # 105 requests: 21 retries allowed
    assert b.try_retry(1.0)
    assert not b.can_retry(1.0)


def test_reserve_lets_a_quiet_route_retry() -> None:
    b = RetryBudget(ratio=0.2, min_per_second=1.0, window_seconds=10.0)
    allowed = [b.try_retry(0.0) for _ in range(15)]
    assert allowed == [True] * 10 + [False] * 5


def test_can_retry_does_not_spend_and_on_retry_does() -> None:
    b = RetryBudget(ratio=0.0, min_per_second=0.1, window_seconds=10.0)  # one retry per window
    assert b.can_retry(0.0)
    assert b.can_retry(0.0)
    b.on_retry(0.0)
    assert not b.can_retry(0.0)


def test_spent_retries_leave_with_the_window() -> None:
    b = RetryBudget(ratio=0.0, min_per_second=0.1, window_seconds=10.0, buckets=10)  # 1 per window
    assert b.try_retry(0.5)
    assert not b.can_retry(9.9)
    assert b.can_retry(10.0)  # the bucket holding the retry has left the window


def test_requests_leave_with_the_window_too() -> None:
    b = RetryBudget(ratio=0.1, min_per_second=0.0, window_seconds=10.0, buckets=10)
    for _ in range(10):
        b.on_request(0.0)
    assert b.can_retry(9.9)
    assert not b.can_retry(10.0)  # the requests that earned it are gone
    for _ in range(10):
        b.on_request(12.0)
    assert b.try_retry(12.0)
    assert not b.can_retry(12.0)
    snap = b.snapshot(12.0)
    assert snap["requests"] == 10 and snap["spent"] == 1


def test_retries_do_not_earn_more_retries() -> None:
    b = RetryBudget(ratio=0.5, min_per_second=0.0)
    b.on_request(0.0)
    b.on_request(0.0)
    assert b.try_retry(0.0)
    assert not b.try_retry(0.0)
    assert b.snapshot(0.0) == {"requests": 2, "spent": 1, "allowed": 1.0, "window_seconds": 10.0}


def test_a_full_outage_does_not_multiply_load() -> None:
    # 1,000 requests/s for 30 s to a dead upstream; each would retry twice without a budget.
    b = RetryBudget(ratio=0.2, min_per_second=1.0, window_seconds=10.0)
    sent = requests = 0
    for ms in range(30_000):
        now = ms / 1000
        b.on_request(now)
        requests += 1
        sent += 1
        for _ in range(2):
            if b.try_retry(now):
                sent += 1
    assert requests == 30_000
    assert sent / requests <= 1.21  # ~1.2x at most, instead of 3x
    assert sent / requests >= 1.15  # and the budget is actually used


def test_hedge_budget_is_the_same_rule() -> None:
    h = HedgeBudget(ratio=0.1, min_per_second=0.0)
    for _ in range(50):
        h.on_request(0.0)
    assert [h.try_hedge(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert not h.can_hedge(0.0)
    h2 = HedgeBudget(ratio=0.0, min_per_second=0.5, window_seconds=4.0)
    assert h2.can_hedge(0.0)
    h2.on_hedge(0.0)
    h2.on_hedge(0.0)
    assert not h2.can_hedge(1.0)
    assert h2.can_hedge(4.0)


@pytest.mark.parametrize("kwargs", [{"ratio": -0.1}, {"min_per_second": -1.0}, {"window_seconds": 0.0}, {"buckets": 0}])
def test_budget_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RetryBudget(**kwargs)


def test_huge_attempt_numbers_do_not_overflow() -> None:
    wait = backoff(10**6, 0.5, 3.0, random.Random(0))
    assert wait is not None and 0.0 <= wait <= 3.0 and not math.isnan(wait)
