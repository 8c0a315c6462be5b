"""Record what happened: metrics and the audit entry for every request, whatever its outcome.

First in the chain so that its ``on_complete`` runs last, after every other stage
has settled (Envoy's outermost filter). The audit entry is only *queued* here (one
struct, one append); the writer encodes, hashes and commits it off the request path.
When the audit queue is full and the policy is to reject, new requests are refused
up front (503) rather than served unrecorded.
"""

from __future__ import annotations

import time
from typing import Any

from switchgear.audit.entry import AuditEntry
from switchgear.core.context import RequestContext
from switchgear.core.errors import GatewayError
from switchgear.telemetry.metrics import Metrics


class AuditUnavailable(GatewayError):
    status = 503
    code = "audit_unavailable"
    retryable = True


def request_entry(ctx: RequestContext, endpoint: str, status: int, err: GatewayError | None) -> AuditEntry:
    p = ctx.principal
    agent = user = None
    if p is not None and p.kind == "agent":
        agent, user = p, p.acting_for
    dep = ctx.deployment
    u = ctx.usage
    allowed = ctx.rule is not None
    return AuditEntry(
        ts=time.time(),
        kind="request",
        action=endpoint,
        decision="allow" if allowed else "deny",
        rule=ctx.rule if allowed else (err.code if err is not None else None),
        request_id=ctx.request_id,
        org_id=p.org_id if p is not None else None,
        principal_id=p.id if p is not None else None,
        principal_name=p.name if p is not None else None,
        principal_kind=p.kind if p is not None else None,
        agent_id=agent.id if agent is not None else None,
        agent_name=agent.name if agent is not None else None,
        on_behalf_of_id=user.id if user is not None else None,
        on_behalf_of_name=user.name if user is not None else None,
        credential_id=p.key_id if p is not None else None,
        model=ctx.model or None,
        deployment=dep.name if dep is not None else None,
        provider=dep.provider if dep is not None else None,
        status=status,
        error_code=err.code if err is not None else None,
        input_tokens=u.input_tokens if u is not None else None,
        output_tokens=u.output_tokens if u is not None else None,
        cached_input_tokens=u.cached_input_tokens if u is not None else None,
        reasoning_tokens=u.reasoning_tokens if u is not None else None,
        cost_usd=ctx.cost_nano / 1_000_000_000 if ctx.cost_nano is not None else None,
        client_ip=ctx.client_ip,
    )


class Record:
    name = "record"
    __slots__ = ("metrics", "endpoint", "audit", "reject_when_full")

    def __init__(self, metrics: Metrics, endpoint: str, audit: Any = None, reject_when_full: bool = True) -> None:
        self.metrics = metrics
        self.endpoint = endpoint
        self.audit = audit  # audit.writer.AuditWriter or None (config-only mode)
        self.reject_when_full = reject_when_full

    def on_request(self, ctx: RequestContext) -> None:
        a = self.audit
        if a is not None and self.reject_when_full and a.full:
            raise AuditUnavailable("the audit record is behind; retry shortly", retry_after=1.0)

    def on_complete(self, ctx: RequestContext) -> None:
        # Label only configured names: a client cannot inflate metric cardinality.
        model = ctx.route.name if ctx.route is not None else "unknown"
        provider = ctx.deployment.provider if ctx.deployment is not None else "none"
        err = ctx.error
        status = ctx.status or (err.status if err is not None else 500)
        ttft = ctx.first_byte_at - ctx.started if ctx.first_byte_at else None
        self.metrics.observe_request(
            self.endpoint, model, provider, status, time.perf_counter() - ctx.started, ttft,
            err.code if err is not None else None, ctx.usage, ctx.cost_nano,
        )
        if self.audit is not None:
            self.audit.submit(request_entry(ctx, self.endpoint, status, err))
