"""Budgets and rate limits, enforced by reservation (switchgear.limits).

Before dispatch, one atomic admission reserves the request's worst-case cost against
every budget that applies and charges every rate limit (requests, the token estimate,
a concurrency slot). After the request, one completion settles the budgets to the
actual cost (meter sets ``ctx.cost_nano``), corrects the token estimate to the actual
count and frees the slot. A request that failed before any answer costs nothing; a
stream cut off before the upstream reported usage is settled at its reservation (the
provider bills the tokens it generated and we cannot know how many), marked estimated.

The worst case: the input's token upper bound (pricing.tokens: bytes, never fewer than
the tokens) plus ``max_tokens`` — or the model's output ceiling, or
``DEFAULT_MAX_OUTPUT`` when neither is known — each at the dearest price among the
deployments (and fallback models) that may answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from switchgear.core.context import RequestContext
from switchgear.core.errors import GatewayError, RateLimited
from switchgear.limits.plan import LimitsPlan, subject_of
from switchgear.limits.types import NANO_PER_USD, Admission, Admitted, Crossed, Refused
from switchgear.pricing.catalog import PriceCatalog
from switchgear.pricing.price import worst_case_nano
from switchgear.pricing.tokens import IMAGE_TOKENS_UPPER

log = logging.getLogger("switchgear.limits")

DEFAULT_MAX_OUTPUT = 32_768  # an unpriced ceiling: the bound used when nothing else is known
_REQUEST_OVERHEAD = 64  # chat template tokens beyond the body's bytes (generous)


class BudgetExceeded(GatewayError):
    status = 429
    code = "budget_exceeded"


def _duration(s: float) -> str:
    """OpenAI's reset format: "1s", "6m0s", "1h2m3s" (sub-second: "250ms")."""
    if s < 1:
        return f"{max(0, int(s * 1000))}ms"
    s = int(s + 0.999)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def rate_headers(admitted: Admitted) -> list[tuple[str, str]]:
    if not admitted.rates:
        return []
    rs = admitted.rates[0]  # the most constrained limit speaks for the request
    out: list[tuple[str, str]] = []
    if rs.limit_requests is not None:
        out += [("x-ratelimit-limit-requests", str(rs.limit_requests)),
                ("x-ratelimit-remaining-requests", str(max(0, rs.remaining_requests or 0))),
                ("x-ratelimit-reset-requests", _duration(rs.reset_requests_s or 0.0))]
    if rs.limit_tokens is not None:
        out += [("x-ratelimit-limit-tokens", str(rs.limit_tokens)),
                ("x-ratelimit-remaining-tokens", str(max(0, rs.remaining_tokens or 0))),
                ("x-ratelimit-reset-tokens", _duration(rs.reset_tokens_s or 0.0))]
    return out


def input_upper_bound(ctx: RequestContext) -> int:
    """Never fewer than the prompt's tokens: the body's bytes bound its text, plus a fixed
    allowance per image (an image's tokens are not its bytes)."""
    body = ctx.body
    images = body.count(b'"image') if b'"image' in body else 0
    return len(body) + images * IMAGE_TOKENS_UPPER + _REQUEST_OVERHEAD


def requested_max_output(ctx: RequestContext) -> int | None:
    raw = ctx.raw
    if raw is None:
        return None
    v = raw.get("max_completion_tokens")
    w = raw.get("max_tokens")
    vals = [x for x in (v, w) if type(x) is int and x > 0]
    return max(vals) if vals else None


class Limits:
    name = "limits"
    __slots__ = ("plan", "backend", "catalog", "names", "ttl_s", "reachable", "on_crossed", "_pending", "_prices")

    def __init__(
        self, plan: LimitsPlan, backend: Any, catalog: PriceCatalog, names: Callable[[str, str], str | None],
        ttl_s: float, reachable: Callable[[Any], tuple[Any, ...]], on_crossed: Callable[[Crossed], None],
    ) -> None:
        self.plan = plan
        self.backend = backend
        self.catalog = catalog
        self.names = names  # (kind, id) -> team/org name
        self.ttl_s = ttl_s
        self.reachable = reachable  # route -> every deployment that may answer it (fallbacks too)
        self.on_crossed = on_crossed
        self._pending: set[asyncio.Task[None]] = set()  # completions in flight (kept referenced)
        # (route, upstream model) -> (valid until, the prices of every deployment that may answer)
        self._prices: dict[tuple[str, str | None], tuple[float, tuple[Any, ...]]] = {}

    def prices(self, ctx: RequestContext, now: float) -> tuple[Any, ...]:
        """The prices a request may be billed at; looked up once a minute per route (a
        price's effective date can pass while the gateway runs)."""
        key = (ctx.route.name, ctx.upstream_model)
        hit = self._prices.get(key)
        if hit is not None and now < hit[0]:
            return hit[1]
        found = []
        route = ctx.route
        for dep in self.reachable(route):
            t = dep.target
            model = ctx.upstream_model if (ctx.upstream_model and dep in route.deployments) else t.model
            price = self.catalog.lookup(t.vendor, model, now)
            if price is not None and price not in found:
                found.append(price)  # unpriced: counted as free (meter warns once)
        if len(self._prices) >= 10_000:
            self._prices.clear()
        self._prices[key] = (now + 60.0, tuple(found))
        return tuple(found)

    def worst_case(self, ctx: RequestContext, input_upper: int, max_out: int | None, now: float) -> int:
        worst = 0
        for price in self.prices(ctx, now):
            out = max_out or price.max_output_tokens or DEFAULT_MAX_OUTPUT
            w = worst_case_nano(price, input_upper, out)
            if w > worst:
                worst = w
        return worst

    def admission(self, ctx: RequestContext) -> Admission | None:
        """What to ask the backend for this request (None: no budget or limit applies)."""
        now = time.time()
        budgets, rates = self.plan.keys(subject_of(ctx.principal, ctx.team_id, ctx.route.name, self.names), now)
        if not budgets and not rates:
            return None
        input_upper = input_upper_bound(ctx)
        max_out = requested_max_output(ctx)
        reserve = self.worst_case(ctx, input_upper, max_out, now) if budgets else 0
        tokens = input_upper + (max_out or DEFAULT_MAX_OUTPUT)
        return Admission(ctx.request_id, budgets, reserve, rates, tokens, self.ttl_s)

    def admitted(self, ctx: RequestContext, a: Admission, res: Admitted | Refused) -> None:
        if type(res) is Refused:
            raise self._refusal(ctx, res, a.reserve_nano)
        assert isinstance(res, Admitted)
        state = ctx.state
        if state is None:
            state = ctx.state = {}
        state["limits"] = (res.ticket, a.reserve_nano, a.tokens)
        if res.rates:
            headers = rate_headers(res)
            ctx.extra_headers = headers if ctx.extra_headers is None else ctx.extra_headers + headers

    async def on_request(self, ctx: RequestContext) -> None:
        a = self.admission(ctx)
        if a is not None:
            self.admitted(ctx, a, await self.backend.admit(a))

    def _refusal(self, ctx: RequestContext, r: Refused, reserve: int) -> GatewayError:
        who = f" ({r.instance})" if r.instance else ""
        if r.kind == "budget":
            when = "never (lifetime budget)" if r.reset_at is None else time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.reset_at))
            err: GatewayError = BudgetExceeded(
                f"budget '{r.name}'{who} is exhausted: ${r.used / NANO_PER_USD:.6f} of ${r.limit / NANO_PER_USD:.6f} "
                f"spent or reserved, and this request could cost up to "
                f"${reserve / NANO_PER_USD:.6f}; it resets {when}",
            )
            # Not worth an SDK's automatic retry: the budget is spent until it resets.
            ctx.extra_headers = (ctx.extra_headers or []) + [("x-should-retry", "false")]
            return err
        what = {"requests": "requests per minute", "tokens": "tokens per minute",
                "concurrency": "concurrent requests"}.get(r.kind, r.kind)
        return RateLimited(
            f"rate limit '{r.name}'{who} reached: {what} (limit {r.limit}); retry after "
            f"{r.retry_after_s or 1:.1f}s",
            retry_after=r.retry_after_s or 1.0, code=f"rate_limit_{r.kind}",
        )

    @staticmethod
    def settlement(ctx: RequestContext) -> tuple[str, int, int] | None:
        """(ticket, actual cost, actual tokens) for a request that was admitted."""
        st = ctx.state
        held = st.get("limits") if st is not None else None
        if held is None:
            return None
        ticket, _, tokens = held
        # meter has priced it (a cut stream at its reservation); unpriced or unanswered: 0.
        actual = ctx.cost_nano if ctx.cost_nano is not None else 0
        u = ctx.usage
        used_tokens = (u.input_tokens + u.output_tokens) if u is not None else (tokens if ctx.response_started else 0)
        return ticket, actual, used_tokens

    def on_complete(self, ctx: RequestContext) -> None:
        s = self.settlement(ctx)
        if s is None:
            return
        ticket, actual, used_tokens = s
        # Off the response path: the client has its answer; the settlement follows.
        task = asyncio.get_running_loop().create_task(self._complete(ticket, actual, used_tokens))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _complete(self, ticket: str, actual: int, tokens: int) -> None:
        try:
            done = await self.backend.complete(ticket, actual, tokens)
        except Exception as e:  # noqa: BLE001 - the ticket expires by itself; say so
            log.warning("limits: settling %s failed (%s); its reservation expires on its own", ticket, e)
            return
        for c in done.crossed:
            self.on_crossed(c)

    async def drain(self, timeout: float = 10.0) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)


class LimitsLocal(Limits):
    """The in-process backend: admission and settlement are plain calls (no coroutine, no
    task per request); the same decisions as the shared backend."""

    __slots__ = ()

    def on_request(self, ctx: RequestContext) -> None:  # type: ignore[override]
        a = self.admission(ctx)
        if a is not None:
            self.admitted(ctx, a, self.backend.admit_now(a))

    def on_complete(self, ctx: RequestContext) -> None:
        s = self.settlement(ctx)
        if s is None:
            return
        for c in self.backend.complete_now(*s).crossed:
            self.on_crossed(c)
