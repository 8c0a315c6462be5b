"""Record what happened: metrics for every request, whatever its outcome.

First in the chain so that its ``on_complete`` runs last, after every other stage
has settled (Envoy's outermost filter). Request logs and the audit record join
here later, through a bounded queue: nothing durable is written on the hot path.
"""

from __future__ import annotations

import time

from switchgear.core.context import RequestContext
from switchgear.telemetry.metrics import Metrics


class Record:
    name = "record"
    __slots__ = ("metrics", "endpoint")

    def __init__(self, metrics: Metrics, endpoint: str) -> None:
        self.metrics = metrics
        self.endpoint = endpoint

    def on_request(self, ctx: RequestContext) -> None:
        pass

    def on_complete(self, ctx: RequestContext) -> None:
        # Label only configured names: a client cannot inflate metric cardinality.
        model = ctx.route.name if ctx.route is not None else "unknown"
        provider = ctx.deployment.provider if ctx.deployment is not None else "none"
        err = ctx.error
        status = ctx.status or (err.status if err is not None else 500)
        ttft = ctx.first_byte_at - ctx.started if ctx.first_byte_at else None
        self.metrics.observe_request(
            self.endpoint, model, provider, status, time.perf_counter() - ctx.started, ttft,
            err.code if err is not None else None, ctx.usage,
        )
