"""The in-process limits backend: the embedded default, and the local limits of fail-open.

Plain dicts, mutated without an ``await`` in between, so every call is atomic in the event
loop. Semantics are those in backend.py, identical to the Redis backend's scripts (lua.py);
the clock is injectable for tests. Memory stays bounded: expired tickets are dropped lazily
from a heap (compacted when stale entries pile up), finished periods' budget counters and
full, idle rate buckets are swept whenever their table has doubled since the last sweep.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from switchgear.limits.backend import (
    LATE_GRACE_S,
    PERIOD_RETENTION_S,
    PURGE_MAX,
    DuplicateTicket,
    expire_at,
    rate_order,
)
from switchgear.limits.types import (
    Admission,
    Admitted,
    BudgetKey,
    Completion,
    Crossed,
    RateKey,
    RateState,
    Refused,
)

_NO_CROSSING = Completion()
_SWEEP_MIN = 1024
_EPS = 1e-6  # a level this close to what is needed is enough (double rounding; see lua.py)


@dataclass(slots=True)
class _Budget:
    expire_at: float  # drop the counter after this (inf: lifetime)
    spent: int = 0
    reserved: int = 0
    reported: int = 0  # the highest soft threshold already reported this period


@dataclass(slots=True)
class _Rate:
    q: float | None = None  # request bucket level at qt (None: full)
    qt: float = 0.0
    k: float | None = None  # token bucket level at kt (None: full)
    kt: float = 0.0
    slots: int = 0  # concurrency slots held by live tickets
    full_at: float = 0.0  # both buckets full again from then on (sweepable if no slots)


@dataclass(slots=True)
class _Ticket:
    id: str
    budgets: tuple[BudgetKey, ...]
    reserve: int
    rates: tuple[RateKey, ...]
    tokens: int
    expires: float
    held: bool = True  # still holds its reservations and slots (False once expired)


def _level(lv: float | None, at: float, cap: int, now: float) -> float:
    if lv is None:
        return float(cap)
    dt = now - at
    l = lv + (dt if dt > 0 else 0.0) * cap / 60
    return l if l < cap else float(cap)


def _wait_s(l: float, need: float, cap: int) -> float:
    """Seconds (rounded up to the ms, like the Redis scripts) until level l reaches need."""
    return math.ceil((need - l) * 60000 / cap) / 1000


class MemoryBackend:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        period_retention_s: int = PERIOD_RETENTION_S,
        late_grace_s: float = LATE_GRACE_S,
    ) -> None:
        self._clock = clock
        self._retention = period_retention_s
        self._grace = late_grace_s
        self._budgets: dict[str, _Budget] = {}
        self._rates: dict[str, _Rate] = {}
        self._tickets: dict[str, _Ticket] = {}
        self._heap: list[tuple[float, int, _Ticket]] = []  # (when, seq, ticket): expiry, then forget
        self._seq = itertools.count()
        self._sweep_budgets_at = _SWEEP_MIN
        self._sweep_rates_at = _SWEEP_MIN

    # ---- the protocol -------------------------------------------------------------

    async def admit(self, a: Admission) -> Admitted | Refused:
        return self.admit_now(a)

    async def complete(self, ticket: str, actual_nano: int, actual_tokens: int) -> Completion:
        return self.complete_now(ticket, actual_nano, actual_tokens)

    async def budget_usage(self, key: BudgetKey) -> tuple[int, int]:
        now = self._clock()
        if self._heap and self._heap[0][0] <= now:
            self._purge(now)
        b = self._budgets.get(key.id)
        return (0, 0) if b is None else (b.spent, b.reserved)

    async def charge(self, key: BudgetKey, nano: int) -> None:
        self._budget(key).spent += nano

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None

    # ---- for ResilientBackend (local limits while the shared store is down) -------

    def holds(self, ticket: str) -> bool:
        return ticket in self._tickets

    def ticket_budgets(self, ticket: str) -> tuple[BudgetKey, ...]:
        t = self._tickets.get(ticket)
        return () if t is None else t.budgets

    def has_budget(self, key: BudgetKey) -> bool:
        return key.id in self._budgets

    def forget_budgets(self) -> None:
        """Drop every budget counter (the shared store is authoritative again)."""
        self._budgets.clear()

    # ---- the work -----------------------------------------------------------------

    def admit_now(self, a: Admission) -> Admitted | Refused:
        now = self._clock()
        heap = self._heap
        if heap and heap[0][0] <= now:
            self._purge(now)
        # Sweep before any look-up, so no counter this call holds can be swept under it.
        if len(self._budgets) > self._sweep_budgets_at:
            self._sweep_budgets(now)
        if len(self._rates) > self._sweep_rates_at:
            self._sweep_rates(now)
        tickets = self._tickets
        if a.ticket in tickets:
            raise DuplicateTicket(a.ticket)

        reserve = a.reserve_nano
        budgets = self._budgets
        found: list[tuple[_Budget | None, int]] = []
        for bk in a.budgets:
            b = budgets.get(bk.id)
            used = 0 if b is None else b.spent + b.reserved
            if used + reserve > bk.limit_nano:
                return Refused("budget", bk.name, bk.instance, None, bk.reset_at, bk.limit_nano, used)
            found.append((b, used))

        tokens = a.tokens
        rates = self._rates
        levels: list[tuple[_Rate | None, float, float]] = []
        for rk in a.rates:
            st = rates.get(rk.id)
            lq = lk = 0.0
            rpm = rk.rpm
            if rpm is not None:
                if rpm <= 0:
                    return Refused("requests", rk.name, rk.instance, None, None, 0, 0)
                lq = float(rpm) if st is None else _level(st.q, st.qt, rpm, now)
                if lq + _EPS < 1:
                    return Refused(
                        "requests", rk.name, rk.instance, _wait_s(lq, 1, rpm), None, rpm, math.ceil(rpm - lq)
                    )
            tpm = rk.tpm
            if tpm is not None:
                if tpm > 0:
                    lk = float(tpm) if st is None else _level(st.k, st.kt, tpm, now)
                if tokens > tpm or tpm <= 0:
                    return Refused("tokens", rk.name, rk.instance, None, None, tpm, math.ceil(tpm - lk))
                if lk + _EPS < tokens:
                    return Refused(
                        "tokens", rk.name, rk.instance, _wait_s(lk, tokens, tpm), None, tpm, math.ceil(tpm - lk)
                    )
            conc = rk.concurrent
            if conc is not None:
                n = 0 if st is None else st.slots
                if n >= conc:
                    return Refused("concurrency", rk.name, rk.instance, None, None, conc, n)
            levels.append((st, lq, lk))

        # Everything fits: reserve and count it all.
        used_after: list[tuple[BudgetKey, int]] = []
        for bk, (b, used) in zip(a.budgets, found):
            if b is None:
                b = self._budget(bk)
            b.reserved += reserve
            used_after.append((bk, used + reserve))
        states: list[RateState] = []
        for rk, (st, lq, lk) in zip(a.rates, levels):
            if st is None:
                st = rates[rk.id] = _Rate()
            rpm, tpm = rk.rpm, rk.tpm
            full = 0.0
            rem_q = rem_k = None
            reset_q = reset_k = None
            if rpm is not None:
                l = lq - 1
                st.q, st.qt = l, now
                rem_q, reset_q = math.floor(l), _wait_s(l, rpm, rpm)
                full = reset_q
            if tpm is not None:
                l = lk - tokens
                st.k, st.kt = l, now
                rem_k, reset_k = math.floor(l), _wait_s(l, tpm, tpm)
                full = max(full, reset_k)
            if rk.concurrent is not None:
                st.slots += 1
            if rpm is not None or tpm is not None:
                st.full_at = now + full
                states.append(RateState(rk.name, rpm, rem_q, reset_q, tpm, rem_k, reset_k))

        t = _Ticket(a.ticket, a.budgets, reserve, a.rates, tokens, now + a.ttl_s)
        tickets[a.ticket] = t
        heapq.heappush(heap, (t.expires, next(self._seq), t))
        if len(heap) > 2 * len(tickets) + _SWEEP_MIN:
            self._compact()
        if len(states) > 1:
            states.sort(key=rate_order)
        return Admitted(a.ticket, tuple(states), tuple(used_after))

    def complete_now(self, ticket: str, actual_nano: int, actual_tokens: int) -> Completion:
        t = self._tickets.pop(ticket, None)
        if t is None:
            return _NO_CROSSING
        held = t.held
        crossed: list[Crossed] = []
        budgets = self._budgets
        for bk in t.budgets:
            b = budgets.get(bk.id)
            if b is None:  # a period long over: nothing left to settle
                continue
            if held:
                b.reserved -= t.reserve
            b.spent += actual_nano
            if bk.soft_nano:
                s, hw = b.spent, b.reported
                for th in bk.soft_nano:
                    if hw < th <= s:
                        crossed.append(Crossed(bk, th, s))
                        b.reported = max(b.reported, th)
        if t.rates:
            now = self._clock()
            rates = self._rates
            for rk in t.rates:
                tpm = rk.tpm
                st = rates.get(rk.id)
                if tpm is not None and tpm > 0 and actual_tokens != t.tokens:
                    if st is None:
                        st = rates[rk.id] = _Rate()
                    l = _level(st.k, st.kt, tpm, now) + t.tokens - actual_tokens
                    st.k, st.kt = (l if l < tpm else float(tpm)), now
                    full = now + _wait_s(st.k, tpm, tpm)
                    st.full_at = max(st.full_at, full)
                if held and rk.concurrent is not None and st is not None:
                    st.slots -= 1
        return Completion(tuple(crossed)) if crossed else _NO_CROSSING

    # ---- housekeeping -------------------------------------------------------------

    def _budget(self, bk: BudgetKey) -> _Budget:
        b = self._budgets.get(bk.id)
        if b is None:
            until = expire_at(bk, self._retention)
            b = self._budgets[bk.id] = _Budget(until if until else math.inf)
        return b

    def _release(self, t: _Ticket) -> None:
        for bk in t.budgets:
            b = self._budgets.get(bk.id)
            if b is not None:
                b.reserved -= t.reserve
        for rk in t.rates:
            if rk.concurrent is not None:
                st = self._rates.get(rk.id)
                if st is not None:
                    st.slots -= 1

    def _purge(self, now: float) -> None:
        """Release expired tickets (then, after the grace, forget them); bounded per call."""
        heap, tickets = self._heap, self._tickets
        released = popped = 0
        while heap and heap[0][0] <= now and released < PURGE_MAX and popped < 4 * PURGE_MAX:
            _, _, t = heapq.heappop(heap)
            popped += 1
            if tickets.get(t.id) is not t:  # completed already
                continue
            if t.held:
                released += 1
                self._release(t)
                t.held = False
                heapq.heappush(heap, (t.expires + self._grace, next(self._seq), t))
            else:
                del tickets[t.id]

    def _compact(self) -> None:
        """Drop the heap entries of completed tickets (amortised: the heap has doubled)."""
        tickets = self._tickets
        self._heap = [e for e in self._heap if tickets.get(e[2].id) is e[2]]
        heapq.heapify(self._heap)

    def _sweep_budgets(self, now: float) -> None:
        self._budgets = {k: b for k, b in self._budgets.items() if b.expire_at > now or b.reserved}
        self._sweep_budgets_at = max(_SWEEP_MIN, 2 * len(self._budgets))

    def _sweep_rates(self, now: float) -> None:
        self._rates = {k: r for k, r in self._rates.items() if r.slots or r.full_at > now}
        self._sweep_rates_at = max(_SWEEP_MIN, 2 * len(self._rates))
