"""Passive health of each deployment, learned from live traffic.

Why this exists: least-latency and least-busy routing, and hedging ("start the next
candidate when no first token has come by this deployment's usual p95"), need a cheap,
current picture of every deployment. It is learned from the requests we send anyway, so
it costs a few attribute updates per request and no extra upstream load.

- In-flight count: ``started()`` before the upstream call, ``finished()`` after it,
  whatever the outcome (use ``try/finally``). It feeds least-busy routing.
- EWMA of time to first token and of total latency: recent samples weigh more, O(1) per
  sample. ``None`` until the first sample, so strategies can tell "unknown" (explore it)
  from "fast".
- p95 TTFT: nearest-rank over a ring buffer of the last ``window`` samples. Exact over a
  recent window, bounded memory, and cheap: the sort runs only when asked and, once the
  window is full, at most once per ``refresh_every`` new samples.

Observe timings of *successful* attempts only. A deployment that fails fast would
otherwise look like the fastest one; failures belong to the circuit breaker.

Single-threaded by design: one event loop per process owns these objects, so no locks.
Counts are per process; shared (Redis) health is a later, separate backend.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class Named(Protocol):
    @property
    def name(self) -> str: ...


class DeploymentHealth:
    """Live statistics for one deployment (mutable, one event loop)."""

    __slots__ = (
        "name",
        "in_flight",
        "ttft_ewma",
        "latency_ewma",
        "ttft_count",
        "latency_count",
        "_alpha",
        "_ring",
        "_size",
        "_pos",
        "_min_samples",
        "_refresh_every",
        "_p95",
        "_p95_n",
        "_unsorted",
    )

    def __init__(
        self,
        name: str,
        *,
        alpha: float = 0.3,
        window: int = 100,
        min_samples: int = 10,
        refresh_every: int = 8,
    ) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if not 1 <= min_samples <= window:
            raise ValueError(f"min_samples must be in [1, window={window}], got {min_samples}")
        if refresh_every < 1:
            raise ValueError(f"refresh_every must be >= 1, got {refresh_every}")
        self.name = name
        self.in_flight = 0
        self.ttft_ewma: float | None = None  # seconds
        self.latency_ewma: float | None = None  # seconds
        self.ttft_count = 0  # samples ever observed
        self.latency_count = 0
        self._alpha = alpha
        self._ring = [0.0] * window  # the last `window` TTFT samples
        self._size = window
        self._pos = 0
        self._min_samples = min_samples
        self._refresh_every = refresh_every
        self._p95: float | None = None  # cached estimate
        self._p95_n = 0  # how many samples it was computed over
        self._unsorted = 0  # samples added since the cached estimate was computed

    # ---- in-flight -------------------------------------------------------------------

    def started(self) -> None:
        self.in_flight += 1

    def finished(self) -> None:
        # Clamped: an unmatched finished() must not leave a negative count that would make
        # this deployment look permanently idle to least-busy routing.
        if self.in_flight > 0:
            self.in_flight -= 1

    # ---- timings ---------------------------------------------------------------------

    def observe_ttft(self, seconds: float) -> None:
        """Record the time from sending the request to the first token (or first byte)."""
        if not seconds >= 0.0:  # negative or NaN: a clock bug, must not poison the EWMA
            return
        e = self.ttft_ewma
        self.ttft_ewma = seconds if e is None else e + self._alpha * (seconds - e)
        self.ttft_count += 1
        pos = self._pos
        self._ring[pos] = seconds
        pos += 1
        self._pos = 0 if pos == self._size else pos
        self._unsorted += 1

    def observe_latency(self, seconds: float) -> None:
        """Record the total time of a successful attempt (request sent to last byte)."""
        if not seconds >= 0.0:
            return
        e = self.latency_ewma
        self.latency_ewma = seconds if e is None else e + self._alpha * (seconds - e)
        self.latency_count += 1

    def ttft_p95(self) -> float | None:
        """Nearest-rank p95 of the recent TTFT samples; ``None`` below ``min_samples``.

        While the window is filling the estimate is exact on every call; once full it is
        refreshed after ``refresh_every`` new samples (a slightly stale p95 is fine for a
        hedging delay, sorting the window on every request is not).
        """
        n = self.ttft_count if self.ttft_count < self._size else self._size
        if n < self._min_samples:
            return None
        if self._unsorted and (self._p95_n < self._size or self._unsorted >= self._refresh_every):
            ordered = sorted(self._ring[:n]) if n < self._size else sorted(self._ring)
            self._p95 = ordered[(95 * n + 99) // 100 - 1]  # ceil(0.95 n)-th smallest
            self._p95_n = n
            self._unsorted = 0
        return self._p95

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in_flight": self.in_flight,
            "ttft_ewma": self.ttft_ewma,
            "latency_ewma": self.latency_ewma,
            "ttft_p95": self.ttft_p95(),
            "ttft_samples": self.ttft_count,
            "latency_samples": self.latency_count,
        }

    def __repr__(self) -> str:
        return f"DeploymentHealth({self.name!r}, in_flight={self.in_flight}, ttft_ewma={self.ttft_ewma})"


class HealthRegistry(dict[str, DeploymentHealth]):
    """Deployment name -> its ``DeploymentHealth``, built once from the deployment list.

    A plain ``dict`` subclass so strategies read it at C speed (``registry.get(name)``)
    and can take any ``Mapping[str, DeploymentHealth]``. Health is per deployment *name*:
    a deployment listed under several model routes shares one entry.
    """

    __slots__ = ()

    @classmethod
    def for_names(
        cls,
        names: Iterable[str],
        *,
        previous: HealthRegistry | None = None,
        alpha: float = 0.3,
        window: int = 100,
        min_samples: int = 10,
        refresh_every: int = 8,
    ) -> HealthRegistry:
        """One entry per distinct name.

        ``previous`` (the registry of the config being replaced) carries entries over for
        names that still exist, so a reload neither forgets what was learned nor loses the
        in-flight counts of requests still running against the old objects. Carried-over
        entries keep their original settings.
        """
        reg = cls()
        for name in names:
            if name in reg:
                continue
            old = previous.get(name) if previous is not None else None
            reg[name] = old if old is not None else DeploymentHealth(
                name, alpha=alpha, window=window, min_samples=min_samples, refresh_every=refresh_every
            )
        return reg

    @classmethod
    def for_deployments(
        cls, deployments: Iterable[Named], *, previous: HealthRegistry | None = None, **settings: Any
    ) -> HealthRegistry:
        """From objects with a ``.name`` (``routing.table.Deployment``)."""
        return cls.for_names((d.name for d in deployments), previous=previous, **settings)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: h.snapshot() for name, h in self.items()}
