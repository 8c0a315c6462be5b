"""Retry pacing and budgets: retries that help a blip without amplifying an outage.

Why: a retry is extra load sent to an upstream that just failed. Spaced out with full
jitter, retries from many requests do not arrive in synchronized waves; with Retry-After
honoured, we do not hammer a provider that told us when to come back; and with a budget,
when most requests fail the retries stop instead of multiplying the load (with 3
attempts and no budget, a full outage triples the traffic to the broken upstream).

- ``backoff``: "full jitter" exponential backoff, uniform in ``[0, min(cap, base *
  2**(attempt-1)))``. A Retry-After is a floor; if it is longer than the caller is
  willing to wait, the answer is ``None``: do not retry that deployment in this request,
  fall back to another one (a Retry-After describes the deployment that sent it, so it
  applies only when retrying that same deployment).
- ``RetryBudget``: retries are allowed while the retries in the sliding window stay
  under ``ratio`` times the requests in it, plus a small reserve (``min_per_second``)
  so a quiet route can still retry. Retries do not count as requests, so they cannot
  earn more retries (Finagle's and Envoy's retry budgets work the same way).
- ``HedgeBudget``: the same rule for hedged extra requests.

Times are monotonic seconds passed in as ``now``; randomness comes from an injected
``random.Random``. Budgets are per process and single-threaded like the rest of routing.
"""

from __future__ import annotations

import random
from typing import Any

from switchgear.routing.breaker import SlidingCounts


def backoff(
    attempt: int,
    base: float,
    cap: float,
    rng: random.Random,
    retry_after: float | None = None,
    *,
    max_wait: float | None = None,
) -> float | None:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry).

    ``retry_after`` (seconds, from the upstream's Retry-After) is a floor on the wait.
    The wait never exceeds ``max_wait`` (default ``cap``); when ``retry_after`` alone
    exceeds it, returns ``None``: don't wait for this deployment, fall back instead.
    A negative or NaN ``retry_after`` is ignored.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts retries from 1, got {attempt}")
    # Clamp the exponent: past ~2**62 the ceiling is `cap` anyway, and floats overflow.
    ceiling = base * (1 << (attempt - 1 if attempt < 64 else 63))
    if ceiling > cap:
        ceiling = cap
    wait = rng.random() * ceiling
    limit = cap if max_wait is None else max_wait
    if retry_after is not None and retry_after > 0.0:
        if retry_after > limit:
            return None
        if wait < retry_after:
            wait = retry_after
    return wait if wait <= limit else limit


class _RatioBudget:
    """Extra requests (retries or hedges) allowed as a fraction of recent requests."""

    __slots__ = ("ratio", "min_per_second", "_counts", "_reserve")

    def __init__(self, ratio: float, min_per_second: float, window_seconds: float, buckets: int) -> None:
        if ratio < 0:
            raise ValueError(f"ratio must be >= 0, got {ratio}")
        if min_per_second < 0:
            raise ValueError(f"min_per_second must be >= 0, got {min_per_second}")
        self.ratio = ratio
        self.min_per_second = min_per_second
        self._counts = SlidingCounts(window_seconds, buckets)  # a = requests, b = extras
        self._reserve = min_per_second * window_seconds

    def on_request(self, now: float) -> None:
        """Count one original request (not a retry or hedge). Call once per request."""
        self._counts.add(now, 1, 0)

    def _allowed(self, now: float) -> bool:
        c = self._counts
        c.expire(now)
        return c.total_b < self.ratio * c.total_a + self._reserve

    def _spend(self, now: float) -> None:
        self._counts.add(now, 0, 1)

    def _try(self, now: float) -> bool:
        if self._allowed(now):
            self._counts.add(now, 0, 1)
            return True
        return False

    def snapshot(self, now: float) -> dict[str, Any]:
        c = self._counts
        c.expire(now)
        return {
            "requests": c.total_a,
            "spent": c.total_b,
            "allowed": self.ratio * c.total_a + self._reserve,
            "window_seconds": c.window_seconds,
        }


class RetryBudget(_RatioBudget):
    """``can_retry`` / ``on_retry`` (or both at once: ``try_retry``)."""

    __slots__ = ()

    def __init__(
        self, ratio: float = 0.2, min_per_second: float = 1.0, window_seconds: float = 10.0, buckets: int = 10
    ) -> None:
        super().__init__(ratio, min_per_second, window_seconds, buckets)

    def can_retry(self, now: float) -> bool:
        return self._allowed(now)

    def on_retry(self, now: float) -> None:
        """Count a retry that is being sent."""
        self._spend(now)

    def try_retry(self, now: float) -> bool:
        """``can_retry`` and, if so, ``on_retry``."""
        return self._try(now)


class HedgeBudget(_RatioBudget):
    """``can_hedge`` / ``on_hedge`` (or both at once: ``try_hedge``)."""

    __slots__ = ()

    def __init__(
        self, ratio: float = 0.1, min_per_second: float = 0.5, window_seconds: float = 10.0, buckets: int = 10
    ) -> None:
        super().__init__(ratio, min_per_second, window_seconds, buckets)

    def can_hedge(self, now: float) -> bool:
        return self._allowed(now)

    def on_hedge(self, now: float) -> None:
        """Count a hedged request that is being sent."""
        self._spend(now)

    def try_hedge(self, now: float) -> bool:
        """``can_hedge`` and, if so, ``on_hedge``."""
        return self._try(now)
