"""CircuitBreaker: trip conditions, open period growth, half-open probes, the window."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchgear.core.errors import (
    ContentFiltered,
    ContextWindowExceeded,
    InvalidRequest,
    RateLimited,
    UnsupportedParameter,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from switchgear.routing.breaker import BreakerPolicy, CircuitBreaker, SlidingCounts, is_breaker_failure

CONSECUTIVE_ONLY = BreakerPolicy(consecutive_failures=3, failure_rate=None, open_seconds=5.0, max_open_seconds=60.0)


def trip(b: CircuitBreaker, now: float) -> None:
    while b.state(now) != "open":
        assert b.allow(now)
        b.record_failure(now)


# ---- SlidingCounts ----------------------------------------------------------------------


def test_sliding_counts_sum_within_the_window() -> None:
    c = SlidingCounts(10.0, 10)
    c.add(0.5, 1, 0)
    c.add(3.2, 1, 1)
    c.add(9.9, 2, 1)
    assert (c.total_a, c.total_b) == (4, 2)


def test_sliding_counts_expire_bucket_by_bucket() -> None:
    c = SlidingCounts(10.0, 10)  # 1 s buckets
    c.add(0.5, 1, 1)  # bucket 0
    c.add(1.5, 1, 0)  # bucket 1
    c.expire(9.9)  # bucket 9: buckets 0..9 all still in the window
    assert c.total_a == 2
    c.expire(10.0)  # bucket 10 replaces bucket 0
    assert (c.total_a, c.total_b) == (1, 0)
    c.expire(11.0)
    assert (c.total_a, c.total_b) == (0, 0)


def test_sliding_counts_gap_longer_than_the_window_clears_everything() -> None:
    c = SlidingCounts(1.0, 4)
    for i in range(4):
        c.add(i * 0.25, 3, 2)
    c.add(1000.0, 1, 0)
    assert (c.total_a, c.total_b) == (1, 0)
    assert sum(c._a) == 1 and sum(c._b) == 0


def test_sliding_counts_late_timestamp_counts_in_the_newest_bucket() -> None:
    c = SlidingCounts(10.0, 10)
    c.add(5.0, 1, 0)
    c.add(2.0, 1, 1)  # captured earlier by a slower task: not lost, not misplaced back
    c.expire(14.9)
    assert (c.total_a, c.total_b) == (2, 1)
    c.expire(15.0)
    assert (c.total_a, c.total_b) == (0, 0)


def test_sliding_counts_clear() -> None:
    c = SlidingCounts(10.0, 10)
    c.add(1.0, 5, 5)
    c.clear()
    c.add(1.0, 1, 0)
    assert (c.total_a, c.total_b) == (1, 0)


@given(st.lists(st.tuples(st.floats(0, 50), st.integers(0, 3), st.integers(0, 3)), max_size=60), st.floats(0, 60))
@settings(deadline=None, derandomize=True, database=None)
def test_sliding_counts_match_a_reference(events: list[tuple[float, int, int]], read_at: float) -> None:
    c = SlidingCounts(10.0, 10)
    newest = -1
    placed = []
    for t, a, b in sorted(events):
        c.add(t, a, b)
        newest = max(newest, int(t))
        placed.append((newest, a, b))
    c.expire(read_at)
    now_bucket = max(newest, int(read_at))
    want_a = sum(a for bk, a, _ in placed if bk > now_bucket - 10)
    want_b = sum(b for bk, _, b in placed if bk > now_bucket - 10)
    assert (c.total_a, c.total_b) == (want_a, want_b)


# ---- closed -> open ---------------------------------------------------------------------


def test_starts_closed_and_allows() -> None:
    b = CircuitBreaker()
    assert b.state(0.0) == "closed"
    assert b.allow(0.0)
    assert b.retry_in(0.0) == 0.0


def test_opens_after_consecutive_failures() -> None:
    b = CircuitBreaker(CONSECUTIVE_ONLY)
    b.record_failure(1.0)
    b.record_failure(1.1)
    assert b.state(1.1) == "closed"
    b.record_failure(1.2)
    assert b.state(1.2) == "open"
    assert not b.allow(1.3)
    assert b.retry_in(1.3) == pytest.approx(4.9)
    assert b.snapshot(1.3)["last_trip_reason"] == "3 consecutive failures"


def test_a_success_resets_the_streak() -> None:
    b = CircuitBreaker(CONSECUTIVE_ONLY)
    for t in range(10):
        b.record_failure(t)
        b.record_failure(t + 0.1)
        b.record_success(t + 0.2)
    assert b.state(20.0) == "closed"


def test_opens_on_failure_rate_with_enough_requests() -> None:
    policy = BreakerPolicy(consecutive_failures=0, failure_rate=0.5, min_requests=10, window_seconds=10.0)
    b = CircuitBreaker(policy)
    # alternate: never 2 failures in a row, but half of all outcomes fail
    for i in range(4):
        b.record_success(i * 0.1)
        b.record_failure(i * 0.1 + 0.05)
    assert b.state(1.0) == "closed"  # 8 requests < min_requests
    b.record_success(1.0)
    assert b.state(1.0) == "closed"  # success never trips
    b.record_failure(1.1)  # 10 requests, 5 failures: 50% >= 50%
    assert b.state(1.1) == "open"
    assert b.snapshot(1.1)["last_trip_reason"] == "failure rate 5/10 over 10s >= 50%"


def test_failure_rate_below_threshold_stays_closed() -> None:
    policy = BreakerPolicy(consecutive_failures=0, failure_rate=0.5, min_requests=10)
    b = CircuitBreaker(policy)
    t = 0.0
    for _ in range(100):  # 1 failure in 3: 33%
        b.record_success(t)
        b.record_success(t + 0.01)
        b.record_failure(t + 0.02)
        t += 0.05
    assert b.state(t) == "closed"


def test_failures_outside_the_window_do_not_count() -> None:
    policy = BreakerPolicy(consecutive_failures=0, failure_rate=0.5, min_requests=4, window_seconds=10.0, buckets=10)
    b = CircuitBreaker(policy)
    b.record_failure(0.0)
    b.record_failure(0.5)
    b.record_success(0.6)  # the streak does not matter here
    # 20 s later the first three outcomes are gone from the window
    b.record_success(20.0)
    b.record_success(20.1)
    b.record_failure(20.2)
    assert b.state(20.2) == "closed"  # 1/3 in window, below min_requests anyway
    b.record_failure(20.3)  # 2/4 = 50%
    assert b.state(20.3) == "open"


def test_either_condition_trips() -> None:
    policy = BreakerPolicy(consecutive_failures=2, failure_rate=0.9, min_requests=100)
    b = CircuitBreaker(policy)
    b.record_failure(0.0)
    b.record_failure(0.1)
    assert b.state(0.1) == "open"


# ---- open -> half_open -> closed / open --------------------------------------------------


def test_half_open_after_the_open_period_admits_limited_probes() -> None:
    policy = BreakerPolicy(consecutive_failures=1, failure_rate=None, open_seconds=5.0, half_open_probes=2, close_after=2)
    b = CircuitBreaker(policy)
    b.record_failure(10.0)
    assert not b.allow(14.99)
    assert b.state(15.0) == "half_open"
    assert b.allow(15.0)
    assert b.allow(15.1)
    assert not b.allow(15.2)  # both probe slots taken
    b.record_success(15.5)
    assert b.state(15.5) == "half_open"  # close_after=2
    assert b.allow(15.6)  # the slot came back
    b.record_success(15.7)
    assert b.state(15.7) == "closed"
    assert all(b.allow(16.0) for _ in range(10))


def test_probe_failure_reopens_with_a_longer_period_capped() -> None:
    policy = BreakerPolicy(
        consecutive_failures=1, failure_rate=None, open_seconds=2.0, open_backoff=3.0, max_open_seconds=10.0
    )
    b = CircuitBreaker(policy)
    now = 0.0
    b.record_failure(now)
    periods = []
    for _ in range(4):
        periods.append(b.retry_in(now))
        now += b.retry_in(now)
        assert b.allow(now)  # the probe
        b.record_failure(now)
        assert b.state(now) == "open"
        assert b.snapshot(now)["last_trip_reason"] == "half-open probe failed"
    periods.append(b.retry_in(now))
    assert periods == pytest.approx([2.0, 6.0, 10.0, 10.0, 10.0])


def test_open_period_starts_over_after_closing() -> None:
    policy = BreakerPolicy(consecutive_failures=1, failure_rate=None, open_seconds=2.0, open_backoff=2.0)
    b = CircuitBreaker(policy)
    b.record_failure(0.0)
    assert b.allow(2.0)
    b.record_failure(2.0)  # second trip: 4 s
    assert b.retry_in(2.0) == pytest.approx(4.0)
    assert b.allow(6.0)
    b.record_success(6.0)
    assert b.state(6.0) == "closed"
    b.record_failure(7.0)
    assert b.retry_in(7.0) == pytest.approx(2.0)


def test_closing_clears_old_failures() -> None:
    policy = BreakerPolicy(consecutive_failures=3, failure_rate=0.5, min_requests=4, open_seconds=1.0)
    b = CircuitBreaker(policy)
    trip(b, 0.0)
    assert b.allow(1.0)
    b.record_success(1.0)
    assert b.state(1.0) == "closed"
    b.record_failure(1.1)  # would be 4/5 in the window had the window not been reset
    b.record_failure(1.2)
    assert b.state(1.2) == "closed"
    snap = b.snapshot(1.2)
    assert snap["window_requests"] == 2 and snap["window_failures"] == 2 and snap["consecutive_failures"] == 2


def test_outcomes_while_open_are_ignored() -> None:
    b = CircuitBreaker(CONSECUTIVE_ONLY)
    trip(b, 0.0)
    until = b.retry_in(0.0)
    b.record_success(1.0)  # a request that started before the trip
    assert b.state(1.0) == "open"
    b.record_failure(2.0)
    assert b.retry_in(0.0) == until  # not extended


def test_release_frees_a_probe_without_a_verdict() -> None:
    policy = BreakerPolicy(consecutive_failures=1, failure_rate=None, open_seconds=1.0)
    b = CircuitBreaker(policy)
    b.record_failure(0.0)
    assert b.allow(1.0)
    assert not b.allow(1.1)
    b.release(1.2)  # e.g. the client disconnected, or the upstream rejected the request itself
    assert b.state(1.2) == "half_open"
    assert b.allow(1.3)
    b.record_success(1.4)
    assert b.state(1.4) == "closed"


def test_release_is_a_no_op_when_closed() -> None:
    b = CircuitBreaker(CONSECUTIVE_ONLY)
    b.record_failure(0.0)
    b.record_failure(0.1)
    b.release(0.2)
    b.record_failure(0.3)
    assert b.state(0.3) == "open"  # release did not reset the streak


def test_lost_probes_are_reclaimed_after_probe_timeout() -> None:
    policy = BreakerPolicy(consecutive_failures=1, failure_rate=None, open_seconds=1.0, probe_timeout=30.0)
    b = CircuitBreaker(policy)
    b.record_failure(0.0)
    assert b.allow(1.0)  # this probe's outcome never arrives
    assert not b.allow(30.9)
    assert b.allow(31.0)
    assert not b.allow(31.1)
    b.record_success(31.5)
    assert b.state(31.5) == "closed"


def test_state_does_not_mutate() -> None:
    b = CircuitBreaker(CONSECUTIVE_ONLY)
    trip(b, 0.0)
    assert b.state(100.0) == "half_open"
    assert b.snapshot(100.0)["probes_in_flight"] == 0
    assert b.allow(100.0)
    assert b.snapshot(100.0)["probes_in_flight"] == 1


def test_snapshot_explains_an_open_breaker() -> None:
    b = CircuitBreaker(BreakerPolicy(consecutive_failures=2, open_seconds=5.0))
    b.record_success(0.0)
    b.record_failure(1.0)
    assert b.snapshot(1.0) == {
        "state": "closed",
        "consecutive_failures": 1,
        "window_requests": 2,
        "window_failures": 1,
        "window_seconds": 10.0,
        "trips": 0,
        "open_for": None,
        "retry_in": 0.0,
        "probes_in_flight": 0,
        "probe_successes": 0,
        "last_trip_reason": None,
    }
    b.record_failure(2.0)
    snap = b.snapshot(3.0)
    assert snap["state"] == "open"
    assert snap["trips"] == 1 and snap["open_for"] == 5.0
    assert snap["retry_in"] == pytest.approx(4.0)
    assert snap["last_trip_reason"] == "2 consecutive failures"


@given(
    st.lists(
        st.tuples(st.sampled_from(["allow", "ok", "fail", "release"]), st.floats(0.0, 3.0)),
        max_size=200,
    )
)
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
def test_invariants_under_arbitrary_traffic(ops: list[tuple[str, float]]) -> None:
    policy = BreakerPolicy(
        consecutive_failures=3, failure_rate=0.5, min_requests=5, open_seconds=1.0, open_backoff=2.0,
        max_open_seconds=8.0, half_open_probes=2, close_after=2, probe_timeout=1000.0,
    )
    b = CircuitBreaker(policy)
    now = 0.0
    for op, dt in ops:
        now += dt
        before = b.state(now)
        if op == "allow":
            ok = b.allow(now)
            if before == "open":
                assert not ok  # an open breaker never lets a request through
            if before == "closed":
                assert ok
        elif op == "ok":
            b.record_success(now)
        elif op == "fail":
            b.record_failure(now)
        else:
            b.release(now)
        snap = b.snapshot(now)
        assert 0 <= snap["probes_in_flight"] <= policy.half_open_probes
        if snap["state"] == "open":
            assert policy.open_seconds <= snap["open_for"] <= policy.max_open_seconds
            assert 0 < snap["retry_in"] <= snap["open_for"] + 1e-9  # float rounding of now + d - now
        if snap["state"] == "closed":
            assert snap["consecutive_failures"] < policy.consecutive_failures


# ---- policy and classification ----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"consecutive_failures": -1},
        {"failure_rate": 0.0},
        {"failure_rate": 1.5},
        {"consecutive_failures": 0, "failure_rate": None},
        {"min_requests": 0},
        {"window_seconds": 0.0},
        {"buckets": 0},
        {"open_seconds": 0.0},
        {"open_seconds": 100.0, "max_open_seconds": 50.0},
        {"open_backoff": 0.5},
        {"half_open_probes": 0},
        {"close_after": 0},
        {"probe_timeout": 0.0},
    ],
)
def test_policy_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        BreakerPolicy(**kwargs)


@pytest.mark.parametrize(
    ("err", "counts"),
    [
        (UpstreamServerError("boom"), True),
        (UpstreamOverloaded("busy"), True),
        (UpstreamUnavailable("reset"), True),
        (UpstreamTimeout("slow"), True),
        (UpstreamProtocolError("garbled"), True),
        (UpstreamError("generic"), True),
        (UpstreamRateLimited("429", retry_after=2.0), False),
        (UpstreamRejected("bad request", status=400), False),
        (ContentFiltered("refused"), False),
        (ContextWindowExceeded("too long"), False),
        (UnsupportedParameter("nope"), False),
        (InvalidRequest("bad"), False),
        (RateLimited("ours"), False),  # the gateway's own limit says nothing about the upstream
    ],
)
def test_default_failure_classification(err: Exception, counts: bool) -> None:
    assert is_breaker_failure(err) is counts  # type: ignore[arg-type]


def test_rate_limits_count_when_configured() -> None:
    assert is_breaker_failure(UpstreamRateLimited("429"), count_rate_limited=True)
    assert not is_breaker_failure(UpstreamRejected("400"), count_rate_limited=True)
