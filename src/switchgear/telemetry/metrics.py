"""Prometheus metrics with bounded label sets, cheap to record.

Labels are the *configured* model names, provider names, HTTP statuses and error
codes, so cardinality is bounded by the config; an unknown model is "unknown".

Recording happens on the event loop's single thread, so the hot path increments
plain ints in one per-(endpoint, model, provider) ``_Series`` (one dict lookup per
request, no locks); prometheus_client renders them at scrape time through a
custom collector, so the exposition format is still the library's.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from switchgear.core.types import Usage

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class _Histogram:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last slot is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # first bound >= value: "le" semantics
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        total = 0
        for bound, n in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=False):
            total += n
            out.append((bound, total))
        return out


class _Series:
    """Everything recorded for one (endpoint, model, provider)."""

    __slots__ = ("statuses", "errors", "latency", "ttft", "tokens", "cost_nano")

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        self.latency = _Histogram(LATENCY_BUCKETS)
        self.ttft = _Histogram(TTFT_BUCKETS)
        self.tokens = [0, 0, 0, 0]  # input, output, cached_input, reasoning
        self.cost_nano = 0  # integer nano-USD (limits.types)


_DIRECTIONS = ("input", "output", "cached_input", "reasoning")


class Metrics:
    def __init__(self) -> None:
        self.series: dict[tuple[str, str, str], _Series] = {}
        self.attempt_failures: dict[tuple[str, str], int] = {}
        self.inflight = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def _get(self, key: tuple[str, str, str]) -> _Series:
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = _Series()
        return s

    def observe_request(
        self, endpoint: str, model: str, provider: str, status: int, seconds: float, ttft: float | None,
        code: str | None, usage: Usage | None = None, cost_nano: int | None = None,
    ) -> None:
        s = self._get((endpoint, model, provider))
        s.statuses[status] = s.statuses.get(status, 0) + 1
        s.latency.observe(seconds)
        if ttft is not None:
            s.ttft.observe(ttft)
        if code is not None:
            s.errors[code] = s.errors.get(code, 0) + 1
        if usage is not None:
            t = s.tokens
            t[0] += usage.input_tokens
            t[1] += usage.output_tokens
            t[2] += usage.cached_input_tokens
            t[3] += usage.reasoning_tokens
        if cost_nano:
            s.cost_nano += cost_nano

    def observe_attempt_failure(self, provider: str, code: str) -> None:
        key = (provider, code)
        self.attempt_failures[key] = self.attempt_failures.get(key, 0) + 1

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Collector:
    def __init__(self, m: Metrics) -> None:
        self.m = m

    def collect(self) -> Iterator[Metric]:
        labels = ["endpoint", "model", "provider"]
        requests = CounterMetricFamily("switchgear_requests", "Client requests handled", labels=[*labels, "status"])
        errors = CounterMetricFamily(
            "switchgear_request_errors", "Client requests that ended in an error", labels=[*labels, "code"]
        )
        latency = HistogramMetricFamily(
            "switchgear_request_duration_seconds", "Time from request to last response byte", labels=labels
        )
        ttft = HistogramMetricFamily(
            "switchgear_time_to_first_token_seconds", "Streaming: time from request to the first streamed byte",
            labels=labels,
        )
        tokens = CounterMetricFamily(
            "switchgear_tokens", "Tokens by direction (input includes cached_input)",
            labels=["model", "provider", "direction"],
        )
        cost = CounterMetricFamily(
            "switchgear_cost_usd", "What requests cost at the price catalog's prices", labels=["model", "provider"],
        )
        cost_totals: dict[tuple[str, str], int] = {}
        token_totals: dict[tuple[str, str], list[int]] = {}
        for (endpoint, model, provider), s in list(self.m.series.items()):
            lv = [endpoint, model, provider]
            for status, n in s.statuses.items():
                requests.add_metric([*lv, str(status)], n)
            for code, n in s.errors.items():
                errors.add_metric([*lv, code], n)
            latency.add_metric(lv, s.latency.cumulative(), s.latency.sum)
            if s.ttft.sum or any(s.ttft.counts):
                ttft.add_metric(lv, s.ttft.cumulative(), s.ttft.sum)
            if s.cost_nano:
                cost_totals[(model, provider)] = cost_totals.get((model, provider), 0) + s.cost_nano
            acc = token_totals.setdefault((model, provider), [0, 0, 0, 0])
            for i, n in enumerate(s.tokens):
                acc[i] += n
        for (model, provider), acc in token_totals.items():
            for direction, n in zip(_DIRECTIONS, acc, strict=False):
                if n:
                    tokens.add_metric([model, provider, direction], n)
        failures = CounterMetricFamily(
            "switchgear_upstream_attempt_failures", "Upstream attempts that failed, by error code",
            labels=["provider", "code"],
        )
        for (provider, code), n in list(self.m.attempt_failures.items()):
            failures.add_metric([provider, code], n)
        inflight = GaugeMetricFamily("switchgear_inflight_requests", "Requests in progress")
        inflight.add_metric([], self.m.inflight)
        for (model, provider), n in cost_totals.items():
            cost.add_metric([model, provider], n / 1_000_000_000)
        yield from (requests, errors, latency, ttft, tokens, cost, failures, inflight)
