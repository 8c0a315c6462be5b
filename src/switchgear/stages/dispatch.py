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
  one ``is None``): see ``_try_model_hedged``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec

from switchgear.core.context import RequestContext
from switchgear.core.errors import GatewayError, UnsupportedParameter, UpstreamError, UpstreamUnavailable
from switchgear.core.types import ChatRequest, EmbeddingsRequest, StreamError, UsageEvent
from switchgear.routing.breaker import is_breaker_failure
from switchgear.routing.retry import backoff
from switchgear.routing.table import Deployment
from switchgear.stages import candidates, first_token

_now = time.monotonic  # breakers and budgets run on the monotonic clock

_JSON = ("content-type", "application/json")
_SSE_HEADERS = (("content-type", "text/event-stream"), ("cache-control", "no-cache"))


def _target_for(dep: Deployment, ctx: RequestContext):
    if ctx.upstream_model is None:
        return dep.target
    return msgspec.structs.replace(dep.target, model=ctx.upstream_model)


def _response_headers(ctx: RequestContext, dep: Deployment, extra: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    headers = [*extra, ("x-request-id", ctx.request_id), *dep.headers]
    if ctx.failures:
        headers.append(("x-switchgear-attempts", str(ctx.attempts)))
        headers.append(("x-switchgear-failed", ", ".join(f"{d}={c}" for d, c in ctx.failures)))
        if ctx.state is not None and "model" in ctx.state:
            headers.append(("x-switchgear-model", ctx.state["model"]))  # a fallback model answered
    return headers


def _record_outcome(breaker: Any, err: GatewayError) -> None:
    # Deployment faults count against it; the request's own faults free a probe slot.
    if is_breaker_failure(err):
        breaker.record_failure(_now())
    else:
        breaker.release(_now())


async def send_upstream(dep: Deployment, up: Any) -> Any:
    """Send one attempt; an HTTP error status becomes the format's typed error."""
    resp = await dep.pool.request(
        up.method,
        up.path,
        up.headers,
        up.body,
        first_byte_timeout=dep.first_token_timeout,
        idle_timeout=dep.idle_timeout,
        total_timeout=dep.total_timeout,
    )
    if resp.status >= 400:
        try:
            body = await resp.read()
        finally:
            resp.close()
        err = dep.fmt.parse_error(resp.status, resp.headers, body)
        err.provider = dep.provider
        raise err
    return resp


def _exhausted(
    route: Any, last: GatewayError | None, unsupported: UnsupportedParameter | None, skipped: list[Any]
) -> GatewayError:
    """The error for a model whose candidates all failed or were skipped."""
    # Prefer the upstream failure; if every candidate refused a parameter, say which.
    if last is not None:
        return last
    if unsupported is not None:
        return unsupported
    now = _now()
    wait = min((b.retry_in(now) for b in skipped), default=0.0)
    return UpstreamUnavailable(
        f"every deployment of model '{route.name}' is failing (circuit breakers open)",
        retry_after=wait if wait > 0 else None,
    )


def _hedge_delay(hedge: Any, health: Any) -> float | None:
    """Seconds to wait for a first token before hedging; None: do not hedge (yet)."""
    if hedge.use_p95 and health is not None:
        p95 = health.ttft_p95()  # None below the health window's min_samples
        if p95 is not None:
            return p95
    return hedge.delay


class _Race:
    """One request's hedged racers (task -> deployment) and who has claimed the client."""

    __slots__ = ("ctx", "running", "winner", "hedged")

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.running: dict[asyncio.Task, Deployment] = {}
        self.winner: _RaceResponder | None = None
        self.hedged = False  # a hedge was started: the response says so


class _RaceResponder:
    """A racer's view of the client's responder: the first racer to send anything claims
    the client and cancels the others; nothing a non-winner writes ever reaches it. For a
    stream, "anything" is the preamble and first token together (the pumps hold a racer's
    preamble back until its first token).

    The claim runs synchronously before any await, and cancelling a task takes effect at
    its next resumption, so once a racer has claimed no other racer runs another line that
    touches the shared RequestContext. The response headers are rebuilt at the claim so
    they count the losers (``x-switchgear-attempts``/``-failed``) and say a hedge ran.
    """

    __slots__ = ("race", "dep", "task")

    def __init__(self, race: _Race, dep: Deployment) -> None:
        self.race = race
        self.dep = dep
        self.task: asyncio.Task | None = None

    def _claim(self, extra: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
        race = self.race
        if race.winner is not None:  # unreachable while losers are cancelled at the claim
            raise asyncio.CancelledError
        race.winner = self
        ctx = race.ctx
        ctx.deployment = self.dep
        for task, dep in race.running.items():
            if task is not self.task and not task.done():
                # Cancelling closes the loser's upstream connection and releases its breaker
                # slot (Dispatch._attempt). Its cost still happened upstream, but the usage of
                # a stream cut before its usage event is unknown here: it is recorded as
                # "hedge_lost" so metering/budgets can estimate it (a later refinement).
                task.cancel()
                ctx.failures.append((dep.name, "hedge_lost"))
        headers = _response_headers(ctx, self.dep, extra)
        if race.hedged:
            headers.append(("x-switchgear-hedged", "1"))
        return headers

    async def start_stream(self, status: int, headers: list[tuple[str, str]]) -> None:
        await self.race.ctx.responder.start_stream(status, self._claim(_SSE_HEADERS))

    def send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.race.ctx.responder.send(status, self._claim((_JSON,)), body)

    async def write(self, chunk: bytes) -> None:
        if self.race.winner is not self:
            raise asyncio.CancelledError
        await self.race.ctx.responder.write(chunk)

    async def end(self, final: bytes = b"") -> None:
        if self.race.winner is not self:
            raise asyncio.CancelledError
        await self.race.ctx.responder.end(final)


class Dispatch:
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
        requirements = candidates.request_requirements(ctx.headers, ctx.principal, rt.key_requirements)
        deps, excluded = candidates.order(route, requirements, ctx.stream)
        if not deps:
            assert requirements is not None
            raise candidates.unsatisfied(route, requirements, excluded)
        if route.retry.attempts:
            rt.retry_budget.on_request(_now())
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
            return await self._try_model_hedged(ctx, route, deps)
        breakers = self.routing.breakers
        retry = route.retry
        last: GatewayError | None = None
        unsupported: UnsupportedParameter | None = None
        skipped: list[Any] = []
        for dep in deps:
            breaker = breakers.get(dep.name)
            if breaker is not None and not breaker.allow(_now()):
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
                if breaker is not None and not breaker.allow(_now()):
                    ctx.failures.append((dep.name, "circuit_open"))
                    break
        return _exhausted(route, last, unsupported, skipped)

    async def _try_model_hedged(self, ctx: RequestContext, route: Any, deps: Any) -> GatewayError | None:
        """``_try_model`` with hedging: candidates race until one produces its first token.

        The first candidate starts; if no first token has gone to the client within the
        delay (the fixed ``delay``, or the first candidate's observed p95 time to first
        token when ``use_p95`` and enough samples exist) and the model's hedge budget
        allows, the next eligible candidate starts too (up to ``max_extra`` per request).
        The first racer to produce a token claims the client (``_RaceResponder``; a
        stream's preamble - OpenAI's role-only chunk, Anthropic's message_start and
        content_block_start - is held back per racer by the pumps until its first text,
        tool-call or reasoning delta, see first_token.py, so an upstream that answers its
        headers and preamble at once but its first token late does not win): the
        others are cancelled at that moment, which closes their upstream connections and
        releases their breaker slots (``_attempt``), and they are recorded as
        ``hedge_lost``. A racer failing before its first token while another still runs
        does not fail the request; when every racer has failed, the next candidate starts
        as plain failover (and may be hedged in turn while extras remain). A failed racer
        is not resent to the same deployment (``retries`` do not apply under hedging).
        """
        hedge = route.hedge
        budget = hedge.budget
        breakers = self.routing.breakers
        health = self.routing.health
        loop = asyncio.get_running_loop()
        budget.on_request(_now())
        race = _Race(ctx)
        running = race.running
        last: GatewayError | None = None
        unsupported: UnsupportedParameter | None = None
        fatal: GatewayError | None = None
        skipped: list[Any] = []
        pos = 0
        extras = 0
        lead: Deployment | None = None  # the first racer of the current race: its p95 sets the delay
        started_at = 0.0

        def next_candidate() -> tuple[Deployment, Any] | None:
            nonlocal pos
            while pos < len(deps):
                dep = deps[pos]
                pos += 1
                breaker = breakers.get(dep.name)
                if breaker is not None and not breaker.allow(_now()):
                    ctx.failures.append((dep.name, "circuit_open"))  # skipped: no timeout paid
                    skipped.append(breaker)
                    continue
                return dep, breaker
            return None

        def start(dep: Deployment, breaker: Any) -> None:
            nonlocal started_at
            racer = _RaceResponder(race, dep)
            task = loop.create_task(self._attempt(ctx, dep, breaker, racer))
            racer.task = task
            running[task] = dep
            started_at = loop.time()

        try:
            while True:
                if not running:
                    if fatal is not None:
                        break
                    nxt = next_candidate()
                    if nxt is None:
                        break
                    lead = nxt[0]
                    start(*nxt)
                timeout = None
                if extras < hedge.max_extra and fatal is None and pos < len(deps) and not ctx.response_started:
                    delay = _hedge_delay(hedge, health.get(lead.name) if lead is not None else None)
                    if delay is not None:
                        timeout = max(0.0, started_at + delay - loop.time())
                done, _ = await asyncio.wait(running, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if not done:  # the delay passed without a first token: hedge, if allowed
                    if ctx.response_started or not budget.can_hedge(_now()):
                        extras = hedge.max_extra  # a winner is streaming, or no budget: no more hedges
                        continue
                    nxt = next_candidate()
                    if nxt is None:
                        extras = hedge.max_extra
                        continue
                    budget.on_hedge(_now())
                    extras += 1
                    race.hedged = True
                    start(*nxt)
                    continue
                for task in done:
                    del running[task]
                    if task.cancelled():
                        continue  # a loser: recorded as hedge_lost by the winner's claim
                    e = task.result()
                    if e is None:
                        return None  # the winner finished (its errors after the first byte went in-band)
                    if ctx.response_started:
                        raise e
                    if isinstance(e, UnsupportedParameter):
                        unsupported = unsupported or e
                    elif not e.retryable:
                        fatal = fatal or e  # decided once no racer is left that could still answer
                    else:
                        last = e
        finally:
            if running:  # the request itself was cancelled (client gone) or a bug: stop the racers
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
        if fatal is not None:
            if candidates.fallback_class(fatal) in route.fallbacks:
                return fatal
            raise fatal
        return _exhausted(route, last, unsupported, skipped)

    def _retry_wait(self, route: Any, attempt: int, err: GatewayError) -> float | None:
        """Seconds before resending to the same deployment, or None: move on instead."""
        r = route.retry
        wait = backoff(attempt, r.backoff_base, r.backoff_cap, route.data.rng, err.retry_after,
                       max_wait=max(r.backoff_cap, r.max_retry_after))
        if wait is None or not self.routing.retry_budget.try_retry(_now()):
            return None
        return wait

    async def _attempt(self, ctx: RequestContext, dep: Deployment, breaker: Any, responder: Any) -> GatewayError | None:
        """One send to ``dep`` with breaker and health bookkeeping; the error if it failed
        before the first byte went out (errors after it end the stream in-band)."""
        ctx.attempts += 1
        ctx.deployment = dep
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
                _record_outcome(breaker, e)
            ctx.failures.append((dep.name, e.code))
            return e
        except BaseException:  # cancelled (client gone) or a bug: says nothing about the deployment
            if breaker is not None:
                breaker.release(_now())
            raise
        finally:
            if health is not None:
                health.finished()
        err = ctx.error  # an error after the first byte, already sent as a stream event
        if err is not None:
            if breaker is not None:
                _record_outcome(breaker, err)
            return None
        if breaker is not None:
            breaker.record_success(_now())
        if health is not None:  # timings of successes only (breaker.py explains why)
            done = time.perf_counter()
            health.observe_latency(done - sent)
            if ctx.stream and ctx.first_byte_at:
                health.observe_ttft(ctx.first_byte_at - sent)
        return None

    def on_complete(self, ctx: RequestContext) -> None:
        pass

    # ---- building the upstream request ----------------------------------------------

    def _canonical(self, ctx: RequestContext) -> ChatRequest:
        if ctx.canonical is None:
            ctx.canonical = self.dialect.to_canonical(ctx.raw)
        return ctx.canonical

    def _build(self, ctx: RequestContext, dep: Deployment) -> tuple[Any, bool]:
        target = _target_for(dep, ctx)
        raw = ctx.raw
        # Pass through unless the client used a parameter this vendor cannot honour: then
        # translate, so the vendor's policy (a 400 naming it, or a drop) applies.
        dialect = self.dialect
        passthrough = (
            dep.fmt.name == dialect.native_format
            and not (target.unsupported and dialect.uses_any(raw, target.unsupported))
            and not dialect.must_translate(raw)
        )
        if passthrough:
            up = dep.fmt.build_passthrough(raw, target, ctx.stream)
        else:
            up = dep.fmt.build_request(self._canonical(ctx), target)
        if dep.signer is not None:
            up = dep.signer(up)
        return up, passthrough

    # ---- non-streaming ------------------------------------------------------------------

    async def _unary(self, ctx: RequestContext, dep: Deployment, responder: Any) -> None:
        up, passthrough = self._build(ctx, dep)
        resp = await send_upstream(dep, up)
        try:
            body = await resp.read()
        finally:
            resp.close()
        if passthrough:
            ctx.usage = dep.fmt.usage_from_response(body)  # decodes the usage object only
            out = body
        else:
            result = dep.fmt.parse_response(body, _target_for(dep, ctx))
            ctx.usage = result.usage
            out = self.dialect.render_response(result, ctx.model)
        ctx.status = 200
        ctx.response_started = True
        responder.send(200, _response_headers(ctx, dep, (_JSON,)), out)

    # ---- streaming ----------------------------------------------------------------------

    async def _stream(self, ctx: RequestContext, dep: Deployment, responder: Any) -> None:
        up, passthrough = self._build(ctx, dep)
        resp = await send_upstream(dep, up)
        try:
            if passthrough:
                await self._pump_passthrough(ctx, dep, resp, responder)
            else:
                await self._pump_translated(ctx, dep, resp, responder)
        finally:
            resp.close()

    async def _begin(self, ctx: RequestContext, dep: Deployment, responder: Any) -> None:
        ctx.status = 200
        ctx.response_started = True
        ctx.first_byte_at = time.perf_counter()
        await responder.start_stream(200, _response_headers(ctx, dep, _SSE_HEADERS))

    async def _pump_passthrough(self, ctx: RequestContext, dep: Deployment, resp: Any, responder: Any) -> None:
        ps = self.dialect.passthrough_stream(dep.fmt, ctx)
        held = b""  # the body's last read: it goes out with the end of the stream, in one write
        # Hedged: the racer's preamble is held back until its first token (first_token.py).
        token = first_token.passthrough_detector(dep.fmt.name) if type(responder) is _RaceResponder else None
        pre = b""
        try:
            async for chunk in resp:
                out = ps.feed(chunk)
                if resp.complete:
                    held = out
                    break
                if out:
                    if not ctx.response_started:
                        if token is not None:
                            pre += out
                            if not token(out):
                                continue
                            out, pre = pre, b""
                        await self._begin(ctx, dep, responder)
                    await responder.write(out)
        except GatewayError as e:
            self._fail_stream(ctx, e)
            await self._end_with_error(ctx, responder, e)
            return
        if pre:
            held = pre + held
        forwarded = ps.error  # an upstream error event, forwarded as it came
        held += ps.close()  # end of body: may add a terminator, or flag a cut stream
        ctx.usage = ps.usage
        if ps.error is not None:
            self._fail_stream(ctx, ps.error)  # nothing sent yet: fail over instead
            if ps.error is forwarded:
                await responder.end(held)
            else:
                if held:
                    await responder.write(held)
                await self._end_with_error(ctx, responder, ps.error)
            return
        if not ctx.response_started:
            await self._begin(ctx, dep, responder)
        await responder.end(held)

    async def _pump_translated(self, ctx: RequestContext, dep: Deployment, resp: Any, responder: Any) -> None:
        parser = dep.fmt.StreamParser(_target_for(dep, ctx))
        renderer = self.dialect.stream_renderer(ctx)
        hold = type(responder) is _RaceResponder  # hedged: the first token claims, not the preamble
        pre = b""
        try:
            async for chunk in resp:
                events = parser.feed(chunk)
                out = self._render(ctx, renderer, events)
                if out:
                    if not ctx.response_started:
                        if hold:
                            pre += out
                            if not first_token.events_have_token(events):
                                continue
                            out, pre = pre, b""
                        await self._begin(ctx, dep, responder)
                    await responder.write(out)
            out = self._render(ctx, renderer, parser.close()) + renderer.done()
        except GatewayError as e:
            self._fail_stream(ctx, e)
            await self._end_with_error(ctx, responder, e, renderer)
            return
        if not ctx.response_started:
            await self._begin(ctx, dep, responder)
            if pre:
                out = pre + out
        await responder.end(out)  # the last events and the terminating chunk: one write

    def _render(self, ctx: RequestContext, renderer: Any, events: list) -> bytes:
        if not events:
            return b""
        parts = []
        for ev in events:
            kind = type(ev)
            if kind is StreamError:
                raise ev.error
            if kind is UsageEvent:
                ctx.usage = ev.usage
            parts.append(renderer.render(ev))
        return b"".join(parts)

    def _fail_stream(self, ctx: RequestContext, err: GatewayError) -> None:
        if not ctx.response_started:
            raise err  # nothing sent yet: let the candidate loop fail over
        ctx.error = err

    async def _end_with_error(
        self, ctx: RequestContext, responder: Any, err: GatewayError, renderer: Any = None
    ) -> None:
        frame = renderer.error(err) if renderer is not None else self.dialect.stream_error_frame(err)
        await responder.end(frame)


class DispatchEmbeddings:
    """Terminal stage for /v1/embeddings (always translated: the format is tiny)."""

    name = "dispatch"
    __slots__ = ("render", "routing")

    def __init__(self, render: Any, routing: Any = None) -> None:
        self.render = render  # frontends.embeddings.render_embeddings
        self.routing = routing  # the Runtime (placement requirements, breakers)

    async def on_request(self, ctx: RequestContext) -> None:
        req: EmbeddingsRequest = ctx.canonical  # type: ignore[assignment]
        last: GatewayError | None = None
        rt = self.routing
        requirements = candidates.request_requirements(ctx.headers, ctx.principal, rt.key_requirements)
        deps, excluded = candidates.order(ctx.route, requirements, False)
        if not deps:
            assert requirements is not None
            raise candidates.unsatisfied(ctx.route, requirements, excluded)
        for dep in deps:
            breaker = rt.breakers.get(dep.name)
            if breaker is not None and not breaker.allow(_now()):
                ctx.failures.append((dep.name, "circuit_open"))
                continue
            ctx.attempts += 1
            ctx.deployment = dep
            target = _target_for(dep, ctx)
            try:
                build = getattr(dep.fmt, "build_embeddings_request", None)
                if build is None:
                    raise GatewayError(
                        f"provider '{dep.provider}' ({dep.fmt.name}) has no embeddings API", status=400,
                        code="unsupported_endpoint",
                    )
                up = build(req, target)
                if dep.signer is not None:
                    up = dep.signer(up)
                resp = await send_upstream(dep, up)
                try:
                    body = await resp.read()
                finally:
                    resp.close()
                result = dep.fmt.parse_embeddings_response(body, target)
            except GatewayError as e:
                if e.provider is None:
                    e.provider = dep.provider
                if breaker is not None:
                    _record_outcome(breaker, e)
                if not e.retryable:
                    raise
                ctx.failures.append((dep.name, e.code))
                last = e
                continue
            except BaseException:
                if breaker is not None:
                    breaker.release(_now())
                raise
            if breaker is not None:
                breaker.record_success(_now())
            ctx.usage = result.usage
            ctx.status = 200
            ctx.response_started = True
            out = self.render(result, ctx.model, req.encoding_format)
            ctx.responder.send(200, _response_headers(ctx, dep, (_JSON,)), out)
            return
        if last is None:
            raise UpstreamUnavailable(f"every deployment of model '{ctx.route.name}' is failing (circuit breakers open)")
        raise last

    def on_complete(self, ctx: RequestContext) -> None:
        pass
