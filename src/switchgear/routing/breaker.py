"""Circuit breaker per deployment: stop sending traffic to a deployment that is failing.

Why: a dead or drowning upstream costs every request routed to it a full timeout before
the fallback runs, and the extra load keeps it down. An open breaker makes dispatch skip
the deployment at the cost of one comparison (``allow`` returns False at once), and a few
probe requests decide when it has recovered.

    closed ──(N consecutive failures, or failure rate >= threshold over the window
    │         with at least M requests)──> open
    open ──(open_seconds elapsed; grows by open_backoff on each repeated trip,
    │       capped at max_open_seconds)──> half_open
    half_open ──(a probe fails)──> open (a repeated trip: longer)
    half_open ──(close_after probe successes)──> closed (trip count reset)

``half_open`` admits at most ``half_open_probes`` requests at a time. A probe whose
outcome never arrives (cancelled, or the caller forgot) would wedge the breaker, so the
caller returns it with ``release`` and, as a safety net, probe slots are reclaimed after
``probe_timeout`` seconds.

What counts as a failure is the caller's decision, not the breaker's: call
``record_failure`` for outcomes that say the *deployment* is unhealthy, ``record_success``
for a good answer, and ``release`` for outcomes that say nothing about it. The intended
rule (``is_breaker_failure`` below): retryable upstream errors count (5xx, overloaded,
timeouts, connection failures, unreadable bodies); 429 only when the caller opts in (a
rate limit is usually our quota, and Retry-After already spaces retries); the request's
own faults (4xx rejections, context window, content filter, unsupported parameter) and
client cancellations -- including a cancelled hedging loser -- are ``release``.

Results arriving while the breaker is open come from requests started before it tripped;
they are ignored. Times are monotonic seconds passed in as ``now`` so tests need no clock.
State is per process; a shared (Redis) breaker is a separate backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from switchgear.core.errors import GatewayError, UpstreamError, UpstreamRateLimited

State = Literal["closed", "open", "half_open"]
CLOSED: State = "closed"
OPEN: State = "open"
HALF_OPEN: State = "half_open"

_FAR_PAST = -(2**62)


class SlidingCounts:
    """Two event counts (``a``, ``b``) over the last ``window_seconds``, in equal buckets.

    The window slides one bucket at a time, so an old burst leaves it within one bucket
    width of ``window_seconds``. Totals are kept incrementally: reading and adding cost a
    few integer operations, plus clearing the buckets that time skipped over. A ``now``
    earlier than the newest bucket seen counts into the newest bucket.
    """

    __slots__ = ("window_seconds", "_n", "_inv_width", "_a", "_b", "_cur", "_slot", "total_a", "total_b")

    def __init__(self, window_seconds: float, buckets: int) -> None:
        if not window_seconds > 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds}")
        if buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {buckets}")
        self.window_seconds = window_seconds
        self._n = buckets
        self._inv_width = buckets / window_seconds
        self._a = [0] * buckets
        self._b = [0] * buckets
        self._cur = _FAR_PAST  # absolute index of the newest bucket
        self._slot = 0  # self._cur % self._n
        self.total_a = 0
        self.total_b = 0

    def _advance(self, idx: int) -> None:
        n = self._n
        a, b = self._a, self._b
        if idx - self._cur >= n:
            for s in range(n):
                a[s] = 0
                b[s] = 0
            self.total_a = 0
            self.total_b = 0
        else:
            for i in range(self._cur + 1, idx + 1):
                s = i % n
                self.total_a -= a[s]
                self.total_b -= b[s]
                a[s] = 0
                b[s] = 0
        self._cur = idx
        self._slot = idx % n

    def add(self, now: float, a: int, b: int) -> None:
        idx = int(now * self._inv_width)
        if idx > self._cur:
            self._advance(idx)
        s = self._slot
        self._a[s] += a
        self._b[s] += b
        self.total_a += a
        self.total_b += b

    def expire(self, now: float) -> None:
        """Drop buckets older than the window (call before reading the totals)."""
        idx = int(now * self._inv_width)
        if idx > self._cur:
            self._advance(idx)

    def clear(self) -> None:
        self._cur = _FAR_PAST
        self._slot = 0
        for s in range(self._n):
            self._a[s] = 0
            self._b[s] = 0
        self.total_a = 0
        self.total_b = 0


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and how it recovers. Parsed once from config."""

    consecutive_failures: int = 5  # trip after this many failures in a row; 0 disables
    failure_rate: float | None = 0.5  # trip at or above this ratio in the window; None disables
    min_requests: int = 20  # ... but only with at least this many outcomes in the window
    window_seconds: float = 10.0
    buckets: int = 10
    open_seconds: float = 5.0  # first open period
    open_backoff: float = 2.0  # each repeated trip (without closing in between) multiplies it
    max_open_seconds: float = 60.0
    half_open_probes: int = 1  # concurrent probes admitted while half-open
    close_after: int = 1  # probe successes needed to close
    probe_timeout: float = 60.0  # reclaim probe slots whose outcome never came

    def __post_init__(self) -> None:
        if self.consecutive_failures < 0:
            raise ValueError("consecutive_failures must be >= 0")
        if self.failure_rate is not None and not 0.0 < self.failure_rate <= 1.0:
            raise ValueError("failure_rate must be in (0, 1] or None")
        if self.consecutive_failures == 0 and self.failure_rate is None:
            raise ValueError("at least one trip condition (consecutive_failures, failure_rate) is needed")
        if self.min_requests < 1:
            raise ValueError("min_requests must be >= 1")
        if not self.window_seconds > 0 or self.buckets < 1:
            raise ValueError("window_seconds must be > 0 and buckets >= 1")
        if not 0 < self.open_seconds <= self.max_open_seconds:
            raise ValueError("need 0 < open_seconds <= max_open_seconds")
        if self.open_backoff < 1.0:
            raise ValueError("open_backoff must be >= 1")
        if self.half_open_probes < 1 or self.close_after < 1:
            raise ValueError("half_open_probes and close_after must be >= 1")
        if not self.probe_timeout > 0:
            raise ValueError("probe_timeout must be > 0")


class CircuitBreaker:
    """One deployment's breaker. Mutable, single event loop; all methods take ``now``."""

    __slots__ = (
        "policy",
        "_state",
        "_consecutive",
        "_consecutive_limit",
        "_rate",
        "_min_requests",
        "_window",
        "_open_until",
        "_open_for",
        "_trips",
        "_probes",
        "_max_probes",
        "_probe_at",
        "_successes",
        "_reason",
    )

    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        p = policy if policy is not None else BreakerPolicy()
        self.policy = p
        self._state: State = CLOSED
        self._consecutive = 0
        self._consecutive_limit = p.consecutive_failures
        self._rate = p.failure_rate if p.failure_rate is not None else 1.0  # unused without a window
        self._min_requests = p.min_requests
        self._window = SlidingCounts(p.window_seconds, p.buckets) if p.failure_rate is not None else None
        self._open_until = 0.0
        self._open_for = 0.0  # length of the current/last open period
        self._trips = 0  # trips since the breaker last closed
        self._probes = 0  # half-open probes in flight
        self._max_probes = p.half_open_probes
        self._probe_at = 0.0  # when the last probe was admitted
        self._successes = 0  # probe successes in this half-open period
        self._reason: str | None = None  # why it last tripped

    # ---- the hot path ----------------------------------------------------------------

    def allow(self, now: float) -> bool:
        """May a request go to this deployment now? A True while half-open takes a probe slot."""
        state = self._state
        if state is CLOSED:
            return True
        if state is OPEN:
            if now < self._open_until:
                return False
            self._state = HALF_OPEN
            self._probes = 0
            self._successes = 0
        if self._probes < self._max_probes:
            self._probes += 1
            self._probe_at = now
            return True
        if now - self._probe_at >= self.policy.probe_timeout:
            # Every slot is held by a probe whose outcome never came: reclaim them.
            self._probes = 1
            self._probe_at = now
            return True
        return False

    def record_success(self, now: float) -> None:
        state = self._state
        if state is CLOSED:
            self._consecutive = 0
            w = self._window
            if w is not None:
                w.add(now, 1, 0)
        elif state is HALF_OPEN:
            if self._probes > 0:
                self._probes -= 1
            self._successes += 1
            if self._successes >= self.policy.close_after:
                self._close()
        # OPEN: a request that started before the trip; ignored.

    def record_failure(self, now: float) -> None:
        state = self._state
        if state is CLOSED:
            self._consecutive += 1
            limit = self._consecutive_limit
            if limit and self._consecutive >= limit:
                self._trip(now, f"{self._consecutive} consecutive failures")
                return
            w = self._window
            if w is not None:
                w.add(now, 1, 1)
                total = w.total_a
                if total >= self._min_requests and w.total_b / total >= self._rate:
                    self._trip(
                        now,
                        f"failure rate {w.total_b}/{total} over {w.window_seconds:g}s"
                        f" >= {self._rate:.0%}",
                    )
        elif state is HALF_OPEN:
            self._trip(now, "half-open probe failed")
        # OPEN: a request that started before the trip; ignored.

    def release(self, now: float) -> None:
        """An outcome that says nothing about the deployment: free a half-open probe slot."""
        if self._state is HALF_OPEN and self._probes > 0:
            self._probes -= 1

    # ---- transitions -----------------------------------------------------------------

    def _trip(self, now: float, reason: str) -> None:
        p = self.policy
        if self._trips == 0:
            self._open_for = p.open_seconds
        else:
            self._open_for = min(self._open_for * p.open_backoff, p.max_open_seconds)
        self._trips += 1
        self._state = OPEN
        self._open_until = now + self._open_for
        self._reason = reason
        self._reset_counts()

    def _close(self) -> None:
        self._state = CLOSED
        self._trips = 0
        self._reset_counts()

    def _reset_counts(self) -> None:
        # A new period starts clean: failures from before the trip must not re-trip a
        # breaker that has just closed.
        self._consecutive = 0
        self._probes = 0
        self._successes = 0
        if self._window is not None:
            self._window.clear()

    # ---- reporting -------------------------------------------------------------------

    def state(self, now: float) -> State:
        """The state as of ``now`` (an elapsed open period reads as half_open); no side effects."""
        if self._state is OPEN and now >= self._open_until:
            return HALF_OPEN
        return self._state

    def retry_in(self, now: float) -> float:
        """Seconds until an open breaker admits a probe (0 when not open)."""
        if self._state is OPEN and now < self._open_until:
            return self._open_until - now
        return 0.0

    def snapshot(self, now: float) -> dict[str, Any]:
        """For ``route explain``, admin and logs: why the breaker is in its state."""
        w = self._window
        if w is not None:
            w.expire(now)
        return {
            "state": self.state(now),
            "consecutive_failures": self._consecutive,
            "window_requests": w.total_a if w is not None else None,
            "window_failures": w.total_b if w is not None else None,
            "window_seconds": self.policy.window_seconds,
            "trips": self._trips,
            "open_for": self._open_for if self._trips else None,
            "retry_in": self.retry_in(now),
            "probes_in_flight": self._probes if self._state is HALF_OPEN else 0,
            "probe_successes": self._successes if self._state is HALF_OPEN else 0,
            "last_trip_reason": self._reason,
        }

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self._state}, trips={self._trips}, reason={self._reason!r})"


def is_breaker_failure(err: GatewayError, *, count_rate_limited: bool = False) -> bool:
    """The default rule for ``record_failure``: a retryable upstream error.

    By type and the ``retryable`` flag only (the error tree already classified the
    status); 429 counts only when ``count_rate_limited``. Anything else (the request's
    own fault) should be ``release``-d, not recorded.
    """
    if not isinstance(err, UpstreamError) or not err.retryable:
        return False
    if isinstance(err, UpstreamRateLimited):
        return count_rate_limited
    return True
