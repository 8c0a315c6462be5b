"""Deployment quotas (rate limits scoped to a deployment): a provider's own limits,
kept by the gateway so a deployment is never sent more than its quota allows.

Checked per attempt, just before a send: a deployment whose quota is spent is skipped
like one whose upstream answered 429 (the next candidate, then the ``rate_limited``
fallbacks; with none left the client gets 429 with ``Retry-After``). The attempt's
ticket is completed with the actual tokens when the attempt ends.
"""

from __future__ import annotations

import asyncio
from typing import Any

from switchgear.core.context import RequestContext
from switchgear.core.errors import UpstreamRateLimited
from switchgear.limits.plan import LimitsPlan
from switchgear.limits.types import Admission, RateKey, Refused
from switchgear.stages.limits import DEFAULT_MAX_OUTPUT, input_upper_bound, requested_max_output


class QuotaExhausted(UpstreamRateLimited):
    """Our own record of the deployment's quota says no: nothing was sent."""

    code = "quota_exhausted"


class Quotas:
    __slots__ = ("plan", "backend", "ttl_s", "_keys", "_pending")

    def __init__(self, plan: LimitsPlan, backend: Any, ttl_s: float) -> None:
        self.plan = plan
        self.backend = backend
        self.ttl_s = ttl_s
        self._keys: dict[str, tuple[RateKey, ...]] = {}
        self._pending: set[asyncio.Task[Any]] = set()

    def keys(self, deployment: str) -> tuple[RateKey, ...]:
        k = self._keys.get(deployment)
        if k is None:
            k = self._keys[deployment] = self.plan.deployment_keys(deployment)
        return k

    async def admit(self, ctx: RequestContext, dep: Any) -> tuple[str, int] | None:
        """(ticket, token estimate), or None when no quota applies; QuotaExhausted if spent."""
        keys = self.keys(dep.name)
        if not keys:
            return None
        tokens = input_upper_bound(ctx) + (requested_max_output(ctx) or DEFAULT_MAX_OUTPUT)
        ticket = f"{ctx.request_id}@{dep.name}#{ctx.attempts}"
        res = await self.backend.admit(Admission(ticket, (), 0, keys, tokens, self.ttl_s))
        if type(res) is Refused:
            raise QuotaExhausted(
                f"deployment {dep.name}: quota '{res.name}' reached ({res.kind}, limit {res.limit})",
                retry_after=res.retry_after_s or 1.0, provider=dep.provider,
            )
        return ticket, tokens

    def complete(self, held: tuple[str, int], ctx: RequestContext) -> None:
        ticket, tokens = held
        u = ctx.usage
        used = (u.input_tokens + u.output_tokens) if u is not None else (tokens if ctx.response_started else 0)
        task = asyncio.get_running_loop().create_task(self.backend.complete(ticket, 0, used))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self, timeout: float = 10.0) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)
