"""Hedging: a model's candidates race until one produces its first token.

See ``race`` for the protocol; ``_RaceResponder`` guards the client so that only the
winner ever writes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from switchgear.core.context import RequestContext
from switchgear.core.errors import GatewayError, UnsupportedParameter
from switchgear.routing.table import Deployment
from switchgear.stages import candidates
from switchgear.stages.attempt import JSON_HEADER, SSE_HEADERS, HoldsPreamble, exhausted, now, response_headers


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


class _RaceResponder(HoldsPreamble):
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
        headers = response_headers(ctx, self.dep, extra)
        if race.hedged:
            headers.append(("x-switchgear-hedged", "1"))
        return headers

    async def start_stream(self, status: int, headers: list[tuple[str, str]]) -> None:
        await self.race.ctx.responder.start_stream(status, self._claim(SSE_HEADERS))

    def send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.race.ctx.responder.send(status, self._claim((JSON_HEADER,)), body)

    async def write(self, chunk: bytes) -> None:
        if self.race.winner is not self:
            raise asyncio.CancelledError
        await self.race.ctx.responder.write(chunk)

    async def end(self, final: bytes = b"") -> None:
        if self.race.winner is not self:
            raise asyncio.CancelledError
        await self.race.ctx.responder.end(final)


async def race(dispatch: Any, ctx: RequestContext, route: Any, deps: Any) -> GatewayError | None:
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
    breakers = dispatch.routing.breakers
    health = dispatch.routing.health
    loop = asyncio.get_running_loop()
    budget.on_request(now())
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
            if breaker is not None and not breaker.allow(now()):
                ctx.failures.append((dep.name, "circuit_open"))  # skipped: no timeout paid
                skipped.append(breaker)
                continue
            return dep, breaker
        return None

    def start(dep: Deployment, breaker: Any) -> None:
        nonlocal started_at
        racer = _RaceResponder(race, dep)
        task = loop.create_task(dispatch._attempt(ctx, dep, breaker, racer))
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
                if ctx.response_started or not budget.can_hedge(now()):
                    extras = hedge.max_extra  # a winner is streaming, or no budget: no more hedges
                    continue
                nxt = next_candidate()
                if nxt is None:
                    extras = hedge.max_extra
                    continue
                budget.on_hedge(now())
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
    return exhausted(route, last, unsupported, skipped)
