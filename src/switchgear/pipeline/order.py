"""THE order of the request pipeline. Read this file to know what happens to a request.

``on_request`` runs top to bottom; ``on_complete`` runs bottom to top, always — so
the stage listed first sees the final outcome (record), and the stage listed last
(dispatch) is the one that talks to the upstream.

    record         on the way in: refuse new work while the audit queue is full;
                   on the way out: metrics and the audit entry (queued, written off-path)
    authenticate   who is calling, for whom — headers only, so an unauthenticated
                   caller costs no body parse and learns nothing about body validation
    parse_request  the client's body in its own dialect (cheap checks)
    authorize      deny by default: a grant must cover endpoint, model, max_tokens,
                   data classes (both the agent's and its user's, when delegated)
    resolve_route  ordered candidate deployments for the requested model
    limits         one atomic admission: rate limits (requests, token estimate,
                   concurrency) and the worst-case cost reserved on every budget;
                   on the way out, settled to the actual cost (after meter)
    (guard_input: added by its issue, here)
    cache          exact-match response cache (models that opted in): a hit answers
                   here, at no cost; a miss records what dispatch sends
    meter          on the way out: usage x price = cost; one spend-ledger row
    dispatch       try candidates; retries/fallback; streams; guard_output later
"""

from __future__ import annotations

from typing import Any

from switchgear.cache.stage import ResponseCache
from switchgear.cache.wiring import ttls_from_config
from switchgear.pipeline.stage import Chain
from switchgear.stages.authorize import Authorize
from switchgear.stages.dispatch import Dispatch
from switchgear.stages.dispatch_embeddings import DispatchEmbeddings
from switchgear.stages.limits import Limits, LimitsLocal
from switchgear.stages.meter import Meter
from switchgear.stages.parse_request import ParseChat, ParseEmbeddings
from switchgear.stages.record import Record
from switchgear.stages.resolve_route import ResolveRoute

# Where each chat dialect carries max_tokens (and where authorize writes a granted cap).
_TOKEN_FIELD = {"chat": "max_completion_tokens", "messages": "max_tokens"}


def _limits(rt: Any) -> tuple[Any, ...]:
    """The limits stage, only when some budget or rate limit is configured."""
    s = rt.services
    if s.limits is None or not rt.limits_plan.active:
        return ()
    cls = LimitsLocal if hasattr(s.limits, "admit_now") else Limits
    stage = cls(rt.limits_plan, s.limits, rt.catalog, rt.name_of, rt.config.limits.reservation_ttl_s,
                rt.reachable, s.alerts)
    s.limit_stages.append(stage)
    return (stage,)


def _cache(rt: Any) -> tuple[Any, ...]:
    ttls = ttls_from_config(rt.config.models)
    if not ttls or rt.services.cache is None:
        return ()
    return (ResponseCache(rt.services.cache, ttls, rt.config.cache.share),)


def chat_chain(rt: Any, dialect: Any) -> Chain:
    return Chain(
        (
            Record(rt.metrics, dialect.endpoint, rt.services.audit, rt.config.audit.on_full == "reject"),
            rt.authenticate,
            ParseChat(dialect),
            Authorize(dialect.endpoint, _TOKEN_FIELD.get(dialect.endpoint)),
            ResolveRoute(rt.routes, "chat"),
            *_limits(rt),
            *_cache(rt),
            Meter(rt.catalog, rt.services.spend),
            Dispatch(dialect, rt.metrics.observe_attempt_failure, rt),
        )
    )


def embeddings_chain(rt: Any, parse: Any, render: Any) -> Chain:
    return Chain(
        (
            Record(rt.metrics, "embeddings", rt.services.audit, rt.config.audit.on_full == "reject"),
            rt.authenticate,
            ParseEmbeddings(parse),
            Authorize("embeddings", None),
            ResolveRoute(rt.routes, "embeddings"),
            *_limits(rt),
            Meter(rt.catalog, rt.services.spend),
            DispatchEmbeddings(render, rt),
        )
    )
