"""Call the upstream: try the route's candidates in order until one answers.

- Same dialect in and out (an OpenAI client and an OpenAI-format upstream): the
  client's body passes through with only the model rewritten, and so does the
  response; fields we do not know survive.
- Otherwise the canonical request is built once (lazily) and every attempt
  translates it afresh for its own wire format.
- A retryable failure moves on to the next candidate *until the first byte has
  gone to the client*; after that, a failure becomes a terminal error event in the
  client's own stream format, never a silent truncated "success".
- Candidates come from stages/candidates.py (placement filter, then the route's
  strategy). Before each send the deployment's circuit breaker is asked; an open one
  is skipped at no cost. A retryable failure may be resent to the same deployment
  (``retries.attempts``, jittered backoff honouring Retry-After, within the retry
  budget), else the next candidate goes. When a model's candidates are exhausted its
  ``fallbacks`` for the error class are tried, under the same placement requirements.
- Hedging (a model's ``hedge``; off by default, and then nothing here costs more than
  one ``is None``): see stages/hedging.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from switchgear.core.context import RequestContext
from switchgear.core.errors import GatewayError, UnsupportedParameter, UpstreamError
from switchgear.routing.retry import backoff
from switchgear.routing.table import Deployment
from switchgear.stages import candidates, hedging
from switchgear.stages.attempt import Attempts, exhausted, now, record_outcome


class Dispatch(Attempts):
    """Terminal stage for chat endpoints; ``dialect`` is the client's frontend.

    ``routing`` is the Runtime: its health registry, breakers, retry budget, per-key
    placement requirements and route table (for fallback models).
    """

    name = "dispatch"
    __slots__ = ("dialect", "on_attempt_failure", "routing")

    def __init__(self, dialect: Any, on_attempt_failure: Any = None, routing: Any = None) -> None:
        self.dialect = dialect
        self.on_attempt_failure = on_attempt_failure  # callable(provider, code) for metrics
        self.routing = routing

    async def on_request(self, ctx: RequestContext) -> None:
        rt = self.routing
        route = ctx.route
        requirements = candidates.request_requirements(ctx.headers, ctx.requirements)
        deps, excluded = candidates.order(route, requirements, ctx.stream)
        if not deps:
            assert requirements is not None
            raise candidates.unsatisfied(route, requirements, excluded)
        if route.retry.attempts:
            rt.retry_budget.on_request(now())
        err = await self._try_model(ctx, route, deps)
        if err is None:
            return
        # Every candidate failed: fall back to other models, keyed on the error class.
        tried = {route.name}
        queue = list(route.fallbacks.get(candidates.fallback_class(err) or "", ()))
        while queue:
            name = queue.pop(0)
            if name in tried:
                continue
            tried.add(name)
            fb = rt.routes.exact[name]
            deps, more = candidates.order(fb, requirements, ctx.stream)
            excluded += more
            if not deps:
                ctx.failures.append((name, "placement"))
                continue
            ctx.upstream_model = None  # a wildcard's upstream model belongs to the first route
            if ctx.state is None:
                ctx.state = {}
            ctx.state["model"] = name
            e = await self._try_model(ctx, fb, deps)
            if e is None:
                return
            err = e
            queue.extend(fb.fallbacks.get(candidates.fallback_class(err) or "", ()))
        if excluded:  # say what placement kept out, so "why not the other one?" is answered
            err.message += " (not eligible by placement: " + "; ".join(f"{n}: {r}" for n, r in excluded) + ")"
        raise err

    async def _try_model(self, ctx: RequestContext, route: Any, deps: Any) -> GatewayError | None:
        """Try one model's candidates in order. None: answered. An error: every candidate
        failed (or one failed in a way only a fallback model can help)."""
        if route.hedge is not None and len(deps) > 1:
            return await hedging.race(self, ctx, route, deps)
        breakers = self.routing.breakers
        retry = route.retry
        last: GatewayError | None = None
        unsupported: UnsupportedParameter | None = None
        skipped: list[Any] = []
        for dep in deps:
            breaker = breakers.get(dep.name)
            if breaker is not None and not breaker.allow(now()):
                ctx.failures.append((dep.name, "circuit_open"))  # skipped: no timeout paid
                skipped.append(breaker)
                continue
            retries = 0
            while True:
                e = await self._attempt(ctx, dep, breaker, ctx.responder)
                if e is None:
                    return None
                if isinstance(e, UnsupportedParameter):
                    # This deployment cannot honour the request as asked: not eligible, and
                    # no upstream was called. Another candidate may take it.
                    unsupported = unsupported or e
                    break
                if ctx.response_started:
                    raise e
                if not e.retryable:
                    if candidates.fallback_class(e) in route.fallbacks:
                        return e  # context window / content filter: a fallback model may take it
                    raise e
                last = e
                if retries >= retry.attempts:
                    break
                wait = self._retry_wait(route, retries + 1, e)
                if wait is None:
                    break
                retries += 1
                if wait > 0:
                    await asyncio.sleep(wait)
                if breaker is not None and not breaker.allow(now()):
                    ctx.failures.append((dep.name, "circuit_open"))
                    break
        return exhausted(route, last, unsupported, skipped)

    def _retry_wait(self, route: Any, attempt: int, err: GatewayError) -> float | None:
        """Seconds before resending to the same deployment, or None: move on instead."""
        r = route.retry
        wait = backoff(attempt, r.backoff_base, r.backoff_cap, route.data.rng, err.retry_after,
                       max_wait=max(r.backoff_cap, r.max_retry_after))
        if wait is None or not self.routing.retry_budget.try_retry(now()):
            return None
        return wait

    async def _attempt(self, ctx: RequestContext, dep: Deployment, breaker: Any, responder: Any) -> GatewayError | None:
        """One send to ``dep`` with breaker and health bookkeeping; the error if it failed
        before the first byte went out (errors after it end the stream in-band)."""
        ctx.attempts += 1
        ctx.deployment = dep
        quotas = self.routing.quotas
        held = None
        if quotas is not None:
            try:
                held = await quotas.admit(ctx, dep)
            except GatewayError as e:  # the deployment's quota is spent (or limits unreachable)
                if breaker is not None:
                    breaker.release(now())  # says nothing about the deployment's health
                ctx.failures.append((dep.name, e.code))
                return e
        try:
            return await self._send(ctx, dep, breaker, responder)
        finally:
            if held is not None:
                quotas.complete(held, ctx)

    async def _send(self, ctx: RequestContext, dep: Deployment, breaker: Any, responder: Any) -> GatewayError | None:
        health = self.routing.health.get(dep.name)
        if health is not None:
            health.started()
        sent = time.perf_counter()
        try:
            if ctx.stream:
                await self._stream(ctx, dep, responder)
            else:
                await self._unary(ctx, dep, responder)
        except GatewayError as e:
            if isinstance(e, UpstreamError):
                if e.provider is None:
                    e.provider = dep.provider
                if self.on_attempt_failure is not None:
                    self.on_attempt_failure(dep.provider, e.code)
            if breaker is not None:
                record_outcome(breaker, e)
            ctx.failures.append((dep.name, e.code))
            return e
        except BaseException:  # cancelled (client gone) or a bug: says nothing about the deployment
            if breaker is not None:
                breaker.release(now())
            raise
        finally:
            if health is not None:
                health.finished()
        err = ctx.error  # an error after the first byte, already sent as a stream event
        if err is not None:
            if breaker is not None:
                record_outcome(breaker, err)
            return None
        if breaker is not None:
            breaker.record_success(now())
        if health is not None:  # timings of successes only (breaker.py explains why)
            done = time.perf_counter()
            health.observe_latency(done - sent)
            if ctx.stream and ctx.first_byte_at:
                health.observe_ttft(ctx.first_byte_at - sent)
        return None

    def on_complete(self, ctx: RequestContext) -> None:
        pass
