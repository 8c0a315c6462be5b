"""The limits backend protocol, and the semantics both backends share exactly.

A backend answers two calls per request: ``admit`` before the upstream call and
``complete`` after it (see types.py). The memory backend (memory.py) and the Redis backend
(redis_backend.py) implement the same rules below and pass the same test suite;
resilient.py decides what happens when Redis cannot be reached.

Admission — all or nothing, atomic across everything in the Admission:

1. Tickets whose ``ttl_s`` has run out give back their budget reservations and
   concurrency slots (at most 1000 per budget and call; the rest on the next call — so a
   reservation is released late, never early).
2. Every budget: ``spent + reserved + reserve_nano <= limit_nano``.
3. Every rate limit, in order: requests (rpm), tokens (tpm), concurrency.
4. If everything fits, all of it is reserved/counted and the ticket recorded; otherwise
   nothing changes and the first failure is returned as ``Refused``.

The budgets (and the rate keys) of one Admission must be distinct: each is checked against
the state before this admission. A ticket already admitted raises ``DuplicateTicket``.

Budgets are counters per ``BudgetKey.id`` (the period is in the id, so a new period starts
from zero). A period's counter is dropped ``period_retention_s`` after its ``reset_at``
(Redis: by key expiry; memory: by a sweep once the table has doubled); lifetime counters
are kept forever. Hard budgets are never exceeded by admitted worst
cases: the reservation is taken before the call, atomically with every other budget.

Rates are token buckets: capacity = the per-minute figure, refilled continuously at
capacity/60 per second, starting full. A request takes 1 from the request bucket and its
token estimate from the token bucket; ``complete`` corrects the token bucket by
``estimate - actual`` (a refund is capped at capacity; a charge may take it below zero and
the next requests wait for the refill). Accuracy: exact — in any window of ``t`` seconds at
most ``rpm + rpm * t / 60`` requests are admitted (a burst of ``rpm``, then ``rpm/60`` per
second), computed in doubles from the store's own clock (a level within 1e-6 of what is
needed counts as enough, so timestamp rounding cannot starve a request; it never
accumulates), rounded up to the millisecond for reported waits. A request whose estimate exceeds ``tpm`` can never fit and is refused with
``retry_after_s=None``; so is anything against a limit of 0. ``RateState`` reports the
remaining allowance after this request (rounded down) and the seconds until the bucket is
full again. Concurrency counts the slots of live (unexpired, uncompleted) tickets.

Completion settles each budget the ticket reserved (``reserved -= reserve``, ``spent +=
actual``), corrects every TPM bucket, frees concurrency slots and reports each soft
threshold the first time a settlement finds ``spent >= threshold`` — once per budget
period, across every process sharing the store. It is idempotent: a second completion of a
ticket does nothing. A ticket completed after it expired (its reservation was already
given back) still records its spend for ``late_grace_s`` more seconds, then is forgotten.
"""

from __future__ import annotations

from typing import Protocol

from switchgear.limits.types import (
    Admission,
    Admitted,
    BudgetKey,
    Completion,
    RateState,
    Refused,
)

PURGE_MAX = 1000  # expired tickets released per budget and call
PERIOD_RETENTION_S = 2 * 86_400  # keep a finished period's counters this long after reset_at
LATE_GRACE_S = 600.0  # a ticket past its ttl may still settle its spend this long
TOMBSTONE_S = 60.0  # how long an unknown completed ticket is remembered (Redis)


class DuplicateTicket(ValueError):
    """``admit`` was given a ticket that is already admitted (tickets must be unique)."""


class LimitsBackend(Protocol):
    async def admit(self, a: Admission) -> Admitted | Refused: ...

    async def complete(self, ticket: str, actual_nano: int, actual_tokens: int) -> Completion: ...

    async def budget_usage(self, key: BudgetKey) -> tuple[int, int]:
        """(spent, reserved) of one budget counter, after releasing expired tickets."""
        ...

    async def charge(self, key: BudgetKey, nano: int) -> None:
        """Add to a budget's spend without a reservation (reconciliation after an outage)."""
        ...

    async def ping(self) -> bool:
        """True if the store answers now (never raises)."""
        ...

    async def aclose(self) -> None: ...


def expire_at(key: BudgetKey, retention_s: int = PERIOD_RETENTION_S) -> int:
    """When a period's counter may be dropped (unix seconds); 0 for a lifetime budget."""
    return 0 if key.reset_at is None else key.reset_at + retention_s


def rate_order(rs: RateState) -> float:
    """Sort key for ``Admitted.rates``: the smallest fraction of allowance left first."""
    f = 2.0
    if rs.limit_requests and rs.remaining_requests is not None:
        f = rs.remaining_requests / rs.limit_requests
    if rs.limit_tokens and rs.remaining_tokens is not None:
        f = min(f, rs.remaining_tokens / rs.limit_tokens)
    return f


def open_backend(
    *,
    backend: str = "memory",
    redis_url: str = "redis://127.0.0.1:6379/0",
    key_prefix: str = "switchgear:",
    on_backend_error: str = "closed",
    backend_timeout_ms: float = 250.0,
) -> LimitsBackend:
    """The backend a ``LimitsConfig`` asks for (pass its fields): memory, or Redis wrapped
    in the configured failure mode."""
    from switchgear.limits.memory import MemoryBackend

    if backend == "memory":
        return MemoryBackend()
    from switchgear.limits.redis_backend import RedisBackend
    from switchgear.limits.resilient import ResilientBackend

    primary = RedisBackend(redis_url, key_prefix=key_prefix, timeout_ms=backend_timeout_ms)
    return ResilientBackend(primary, on_backend_error, MemoryBackend())  # type: ignore[arg-type]
