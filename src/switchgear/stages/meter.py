"""What a request cost: normalised usage × the price in effect, into ``ctx.cost_nano``
(read by limits to settle budgets and by record for the audit entry), and one row of
the spend ledger (written off the request path in batches).

- answered from the response cache: cost 0;
- usage reported by the upstream: priced exactly (pricing.price.cost_nano);
- a stream cut off before the upstream reported usage (client disconnect, dropped
  connection): charged at the request's reservation — its worst case — and marked
  estimated: the provider bills what it generated, which we cannot see;
- failed before any answer: 0; a model with no price: None (unpriced, logged once).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from switchgear.core.context import RequestContext
from switchgear.pricing.catalog import PriceCatalog
from switchgear.pricing.price import cost_nano, worst_case_nano
from switchgear.stages.limits import DEFAULT_MAX_OUTPUT, input_upper_bound, requested_max_output
from switchgear.spend.record import SpendRecord

log = logging.getLogger("switchgear.meter")


class Meter:
    name = "meter"
    __slots__ = ("catalog", "ledger", "_unpriced")

    def __init__(self, catalog: PriceCatalog, ledger: Any = None) -> None:
        self.catalog = catalog
        self.ledger = ledger  # spend.writer.SpendWriter, or None without a store
        self._unpriced: set[tuple[str, str]] = set()

    def on_request(self, ctx: RequestContext) -> None:
        pass

    def worst_case(self, ctx: RequestContext) -> int | None:
        """The most the answering deployment can bill for this request (None: unpriced)."""
        dep = ctx.deployment
        if dep is None:
            return None
        t = dep.target
        model = ctx.upstream_model if ctx.upstream_model and dep in ctx.route.deployments else t.model
        price = self.catalog.lookup(t.vendor, model, time.time())
        if price is None:
            return None
        out = requested_max_output(ctx) or price.max_output_tokens or DEFAULT_MAX_OUTPUT
        return worst_case_nano(price, input_upper_bound(ctx), out)

    def on_complete(self, ctx: RequestContext) -> None:
        if ctx.rule is None:
            return  # never authorised: nothing was spent, nothing to meter
        st = ctx.state
        cached = st is not None and st.get("cache") == "hit"
        u = ctx.usage
        dep = ctx.deployment
        estimated = False
        if cached:
            cost: int | None = 0
        elif u is not None and dep is not None:
            t = dep.target
            model = ctx.upstream_model if ctx.upstream_model and dep in ctx.route.deployments else t.model
            price = self.catalog.lookup(t.vendor, model, time.time())
            if price is None:
                cost = None
                if (t.vendor, model) not in self._unpriced:
                    self._unpriced.add((t.vendor, model))
                    log.warning("no price for %s model %s: its requests cost nothing to budgets", t.vendor, model)
            else:
                cost = cost_nano(price, u)
            estimated = u.estimated
        elif ctx.response_started:
            # Cut before the upstream reported usage: the provider bills what it generated,
            # which we cannot see; charge the worst case (the reservation when there was one).
            held = st.get("limits") if st is not None else None
            cost = held[1] if held is not None and held[1] else self.worst_case(ctx)
            estimated = True
        else:
            cost = 0
        ctx.cost_nano = cost
        ledger = self.ledger
        if ledger is not None:
            p = ctx.principal
            user = p if p.kind == "user" else p.acting_for
            ledger.submit(SpendRecord(
                ts=time.time(), request_id=ctx.request_id, org_id=p.org_id, principal_id=p.id,
                principal_kind=p.kind, credential_id=p.key_id, agent_id=p.id if p.kind == "agent" else None,
                user_id=user.id if user is not None else None, team_id=ctx.team_id,
                model=ctx.route.name if ctx.route is not None else ctx.model,
                provider=dep.provider if dep is not None else None,
                deployment=dep.name if dep is not None else None,
                input_tokens=u.input_tokens if u is not None and not cached else 0,
                output_tokens=u.output_tokens if u is not None and not cached else 0,
                cached_input_tokens=u.cached_input_tokens if u is not None and not cached else 0,
                reasoning_tokens=u.reasoning_tokens if u is not None and not cached else 0,
                cache_write_tokens=u.cache_write_tokens if u is not None and not cached else 0,
                cost_nano=cost or 0, estimated=estimated, cached=cached,
            ))
