"""What the limits do when the shared store (Redis) cannot be reached.

``ResilientBackend(primary, mode, local)`` wraps the shared backend. The first
``BackendUnavailable`` marks it down; from then on requests do not wait for it, and a
background probe pings it with exponential backoff (``probe_initial_s`` doubling up to
``probe_max_s``) until it answers. While it is down:

- ``mode="closed"``: ``admit`` raises ``LimitsUnavailable`` (503) at once. Nothing that a
  budget or limit applies to goes upstream unaccounted.
- ``mode="open"``: ``admit`` is answered by ``local``, an in-process backend given the same
  Admissions — the same configured limits, enforced per process. Such tickets stay local:
  ``complete`` settles them there, wherever the primary is by then. What this means:

  * Budgets: each process starts from the last usage it saw in the shared store (or zero)
    and lets itself spend up to the limit. With N processes the total can reach
    N × (limit − last seen usage) beyond that usage — at worst N × limit. Everything spent
    locally is added to the shared counters when the store is back, so the rest of the
    period is judged on the true total.
  * Rate limits and concurrency: N × each limit across N processes.
  * Soft thresholds are not reported from local settlements (every process would report
    its own); the first shared settlement after reconciliation reports them, once.

Either way, ``complete`` never raises: a settlement the primary could not take is kept
(bounded) and replayed when it is back — completion is idempotent, so a replay of one that
did land is harmless. So is a release of every ticket whose ``admit`` timed out: the script
may have run, and its reservation would otherwise be held until the ticket expires.
Reconciled spend is the exception: if a ``charge`` times out after landing, its replay
counts it twice (too much spend is the safe side of a budget).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Literal

from switchgear.core.errors import GatewayError
from switchgear.limits.backend import LimitsBackend
from switchgear.limits.memory import MemoryBackend
from switchgear.limits.types import (
    Admission,
    Admitted,
    BackendUnavailable,
    BudgetKey,
    Completion,
    Refused,
)

log = logging.getLogger(__name__)

_NO_CROSSING = Completion()


class LimitsUnavailable(GatewayError):
    """The shared limits store is unreachable and the gateway is configured to fail closed."""

    status = 503
    code = "limits_unavailable"
    retryable = False  # not by trying another upstream: the limits come before any


class ResilientBackend:
    def __init__(
        self,
        primary: LimitsBackend,
        mode: Literal["closed", "open"],
        local: MemoryBackend,
        *,
        probe_initial_s: float = 0.1,
        probe_max_s: float = 2.0,
        max_pending: int = 100_000,
        retry_after_s: float = 1.0,
    ) -> None:
        if mode not in ("closed", "open"):
            raise ValueError(f"on_backend_error must be 'closed' or 'open', not {mode!r}")
        self._primary = primary
        self._open = mode == "open"
        self._local = local
        self._probe_initial = probe_initial_s
        self._probe_max = probe_max_s
        self._max_pending = max_pending
        self._retry_after = retry_after_s
        self._up = True
        self._probe: asyncio.Task[None] | None = None
        self._flush: asyncio.Task[None] | None = None
        # Settlements to replay on the primary: ticket -> (actual_nano, actual_tokens).
        self._pending: dict[str, tuple[int, int]] = {}
        # Spend settled locally, to add to the shared counters: budget id -> [key, nano].
        self._unsynced: dict[str, list] = {}  # type: ignore[type-arg]
        # The last spent + reserved the primary reported per budget (seeds local counters).
        self._last_used: dict[str, int] = {}

    @property
    def primary_up(self) -> bool:
        return self._up

    @property
    def pending(self) -> int:
        """Settlements and reconciliations waiting for the primary."""
        return len(self._pending) + len(self._unsynced)

    # ---- the protocol -------------------------------------------------------------

    async def admit(self, a: Admission) -> Admitted | Refused:
        if not a.budgets and not a.rates:
            return self._local.admit_now(a)  # nothing shared to count: no round trip
        if self._up:
            try:
                r = await self._primary.admit(a)
            except BackendUnavailable as e:
                self._down(e)
                self._keep(a.ticket, 0, 0)  # it may have run: release it when we can
            else:
                if type(r) is Admitted and r.budgets_used_nano:
                    last = self._last_used
                    if len(last) > 4 * self._max_pending:
                        last.clear()
                    for bk, used in r.budgets_used_nano:
                        last[bk.id] = used
                return r
        if not self._open:
            raise LimitsUnavailable(
                "the limits store is unavailable; try again shortly", retry_after=self._retry_after
            )
        local = self._local
        for bk in a.budgets:
            if not local.has_budget(bk):
                seen = self._last_used.get(bk.id)
                if seen:
                    await local.charge(bk, seen)
        return local.admit_now(a)

    async def complete(self, ticket: str, actual_nano: int, actual_tokens: int) -> Completion:
        local = self._local
        if local.holds(ticket):
            budgets = local.ticket_budgets(ticket)
            local.complete_now(ticket, actual_nano, actual_tokens)
            if actual_nano and budgets:
                unsynced = self._unsynced
                for bk in budgets:
                    entry = unsynced.get(bk.id)
                    if entry is None:
                        unsynced[bk.id] = [bk, actual_nano]
                    else:
                        entry[1] += actual_nano
                if self._up:
                    self._start_flush()
            return _NO_CROSSING
        if not self._up:
            self._keep(ticket, actual_nano, actual_tokens)
            return _NO_CROSSING
        try:
            return await self._primary.complete(ticket, actual_nano, actual_tokens)
        except BackendUnavailable as e:
            self._down(e)
            self._keep(ticket, actual_nano, actual_tokens)
            return _NO_CROSSING

    async def budget_usage(self, key: BudgetKey) -> tuple[int, int]:
        """The shared counter's usage (raises BackendUnavailable when it is down)."""
        return await self._primary.budget_usage(key)

    async def charge(self, key: BudgetKey, nano: int) -> None:
        await self._primary.charge(key, nano)

    async def ping(self) -> bool:
        return await self._primary.ping()

    async def aclose(self) -> None:
        for task in (self._probe, self._flush):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):  # shutting down
                    await task
        if self._up and (self._pending or self._unsynced):
            await self._replay()  # best effort: settle what we still owe before leaving
        await self._primary.aclose()
        await self._local.aclose()

    # ---- down, probing, replay ----------------------------------------------------

    def _down(self, e: BaseException) -> None:
        if self._up:
            self._up = False
            log.warning("limits store unavailable (%s); failing %s", e, "open" if self._open else "closed")
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_up())

    def _keep(self, ticket: str, actual_nano: int, actual_tokens: int) -> None:
        pending = self._pending
        if ticket not in pending and len(pending) >= self._max_pending:
            # Full: the oldest goes; its reservation lapses with the ticket's ttl.
            del pending[next(iter(pending))]
        pending[ticket] = (actual_nano, actual_tokens)

    async def _probe_until_up(self) -> None:
        delay = self._probe_initial
        while True:
            await asyncio.sleep(delay)
            if await self._primary.ping():
                break
            delay = min(delay * 2, self._probe_max)
        self._up = True
        self._local.forget_budgets()  # the shared counters are authoritative again
        log.warning("limits store is back")
        self._start_flush()

    def _start_flush(self) -> None:
        if self._flush is None or self._flush.done():
            self._flush = asyncio.get_running_loop().create_task(self._replay())

    async def _replay(self) -> None:
        primary = self._primary
        try:
            while self._pending:
                ticket, (nano, tokens) = next(iter(self._pending.items()))
                await primary.complete(ticket, nano, tokens)
                self._pending.pop(ticket, None)
            while self._unsynced:
                bid, (bk, nano) = next(iter(self._unsynced.items()))
                del self._unsynced[bid]
                try:
                    await primary.charge(bk, nano)
                except BackendUnavailable:
                    entry = self._unsynced.setdefault(bid, [bk, 0])
                    entry[1] += nano
                    raise
        except BackendUnavailable as e:
            self._down(e)
