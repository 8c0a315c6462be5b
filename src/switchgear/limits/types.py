"""The limits contract: what the pipeline asks a backend, and what it answers.

One request is *admitted* once, atomically, against every budget and rate limit that
applies to it (one round trip to Redis), and *completed* once (one more): budgets are
settled from the reserved worst case to the actual cost, the token estimate is corrected
to the actual count, and the concurrency slot is freed. A completion with actual cost 0
is a release (failure, timeout, client disconnect). A ticket never completed — its
process died — expires after ``ttl_s`` and gives back everything it held.

Money is integer nano-USD (1e-9 $): per-token prices such as $0.15 per million tokens are
exact integers, and Redis counters never accumulate float error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NANO_PER_USD = 1_000_000_000


def usd_to_nano(usd: float) -> int:
    return int(round(usd * NANO_PER_USD))


@dataclass(frozen=True, slots=True)
class BudgetKey:
    """One budget counter: a configured budget, for one instance, in one period."""

    name: str  # the configured budget's name
    instance: str  # "" for a named scope; the principal/team/model id for a "*" scope
    period_start: int  # unix seconds; 0 for lifetime
    reset_at: int | None  # when the next period starts (None: lifetime, never)
    limit_nano: int
    soft_nano: tuple[int, ...] = ()  # soft thresholds, ascending

    @property
    def id(self) -> str:
        """Stable across processes: the counter's name in a shared store."""
        return f"{self.name}|{self.instance}|{self.period_start}"


@dataclass(frozen=True, slots=True)
class RateKey:
    """One rate-limit counter set: a configured limit, for one instance."""

    name: str
    instance: str
    rpm: int | None = None
    tpm: int | None = None
    concurrent: int | None = None

    @property
    def id(self) -> str:
        return f"{self.name}|{self.instance}"


@dataclass(frozen=True, slots=True)
class Admission:
    ticket: str  # unique per request (the request id will do)
    budgets: tuple[BudgetKey, ...]
    reserve_nano: int  # the worst-case cost, reserved against every budget at once
    rates: tuple[RateKey, ...]
    tokens: int  # the token estimate charged to every TPM limit
    ttl_s: float  # the ticket expires (everything it holds is released) after this


@dataclass(frozen=True, slots=True)
class RateState:
    """What the OpenAI-style x-ratelimit-* headers report for one limit, after admission."""

    name: str
    limit_requests: int | None
    remaining_requests: int | None
    reset_requests_s: float | None  # seconds until the request allowance is full again
    limit_tokens: int | None
    remaining_tokens: int | None
    reset_tokens_s: float | None


@dataclass(frozen=True, slots=True)
class Admitted:
    ticket: str
    rates: tuple[RateState, ...] = ()  # the most constrained first
    budgets_used_nano: tuple[tuple[BudgetKey, int], ...] = ()  # spent + reserved, after admission


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a request was not admitted. Nothing was reserved or counted."""

    kind: str  # "budget" | "requests" | "tokens" | "concurrency"
    name: str  # the configured budget or rate limit
    instance: str
    retry_after_s: float | None  # rate limits: when a retry can succeed
    reset_at: int | None = None  # budgets: when the period resets (None: lifetime)
    limit: int = 0  # nano-USD for budgets; requests/tokens/slots for rate limits
    used: int = 0  # spent + reserved (budgets), or what is in use now


@dataclass(frozen=True, slots=True)
class Crossed:
    """A soft threshold crossed by a settlement (reported once per budget period)."""

    budget: BudgetKey
    threshold_nano: int
    spent_nano: int


@dataclass(frozen=True, slots=True)
class Completion:
    crossed: tuple[Crossed, ...] = field(default_factory=tuple)


class BackendUnavailable(Exception):
    """The shared backend (Redis) did not answer in time or at all."""
