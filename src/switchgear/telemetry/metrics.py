"""Prometheus metrics with bounded label sets.

Labels are the *configured* model names, provider names and HTTP status codes, so
cardinality is bounded by the config; an unknown model is labelled "unknown".
Label children are cached in dicts: prometheus_client's ``.labels()`` is the slow
part of an observation, and the hot path pays it once per label set.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from switchgear.core.types import Usage

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "switchgear_requests", "Client requests handled", ("endpoint", "model", "provider", "status"), registry=r
        )
        self.errors = Counter(
            "switchgear_request_errors", "Client requests that ended in an error", ("endpoint", "model", "provider", "code"),
            registry=r,
        )
        self.latency = Histogram(
            "switchgear_request_duration_seconds", "Time from request to last response byte",
            ("endpoint", "model", "provider"), buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.ttft = Histogram(
            "switchgear_time_to_first_token_seconds", "Streaming: time from request to the first streamed byte",
            ("endpoint", "model", "provider"), buckets=_TTFT_BUCKETS, registry=r,
        )
        self.tokens = Counter(
            "switchgear_tokens", "Tokens by direction (input includes cached_input)", ("model", "provider", "direction"),
            registry=r,
        )
        self.attempt_failures = Counter(
            "switchgear_upstream_attempt_failures", "Upstream attempts that failed, by error code", ("provider", "code"),
            registry=r,
        )
        self.inflight = Gauge("switchgear_inflight_requests", "Requests in progress", registry=r)
        self._req: dict[tuple[str, str, str, int], object] = {}
        self._err: dict[tuple[str, str, str, str], object] = {}
        self._lat: dict[tuple[str, str, str], object] = {}
        self._ttft: dict[tuple[str, str, str], object] = {}
        self._tok: dict[tuple[str, str], tuple[object, object, object, object]] = {}
        self._fail: dict[tuple[str, str], object] = {}

    def observe_request(
        self, endpoint: str, model: str, provider: str, status: int, seconds: float, ttft: float | None, code: str | None
    ) -> None:
        key = (endpoint, model, provider, status)
        c = self._req.get(key)
        if c is None:
            c = self._req[key] = self.requests.labels(endpoint, model, provider, str(status))
        c.inc()  # type: ignore[attr-defined]
        lk = (endpoint, model, provider)
        h = self._lat.get(lk)
        if h is None:
            h = self._lat[lk] = self.latency.labels(endpoint, model, provider)
        h.observe(seconds)  # type: ignore[attr-defined]
        if ttft is not None:
            t = self._ttft.get(lk)
            if t is None:
                t = self._ttft[lk] = self.ttft.labels(endpoint, model, provider)
            t.observe(ttft)  # type: ignore[attr-defined]
        if code is not None:
            ek = (endpoint, model, provider, code)
            e = self._err.get(ek)
            if e is None:
                e = self._err[ek] = self.errors.labels(endpoint, model, provider, code)
            e.inc()  # type: ignore[attr-defined]

    def observe_usage(self, model: str, provider: str, usage: Usage) -> None:
        key = (model, provider)
        t = self._tok.get(key)
        if t is None:
            t = self._tok[key] = (
                self.tokens.labels(model, provider, "input"),
                self.tokens.labels(model, provider, "output"),
                self.tokens.labels(model, provider, "cached_input"),
                self.tokens.labels(model, provider, "reasoning"),
            )
        if usage.input_tokens:
            t[0].inc(usage.input_tokens)  # type: ignore[attr-defined]
        if usage.output_tokens:
            t[1].inc(usage.output_tokens)  # type: ignore[attr-defined]
        if usage.cached_input_tokens:
            t[2].inc(usage.cached_input_tokens)  # type: ignore[attr-defined]
        if usage.reasoning_tokens:
            t[3].inc(usage.reasoning_tokens)  # type: ignore[attr-defined]

    def observe_attempt_failure(self, provider: str, code: str) -> None:
        key = (provider, code)
        c = self._fail.get(key)
        if c is None:
            c = self._fail[key] = self.attempt_failures.labels(provider, code)
        c.inc()  # type: ignore[attr-defined]

    def render(self) -> bytes:
        return generate_latest(self.registry)
