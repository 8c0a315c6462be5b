"""Which budgets and rate limits apply to a request: from config, once, into lookups.

A configured scope names one kind of subject (key, user, service account, team, agent,
org or model) and either one of them by name or ``*`` — each of them on a counter of its
own (the instance is then the subject's id). The team is the one charged for the request
(the team whose grant allowed it); the user is the principal itself or, for an agent, the
user it acts for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from switchgear.config.schema import LimitsConfig, Scope
from switchgear.limits.periods import period_bounds
from switchgear.limits.types import BudgetKey, RateKey, usd_to_nano

KINDS = ("key", "user", "service_account", "team", "agent", "org", "model", "deployment")


def scope_of(s: Scope) -> tuple[str, str]:
    """(kind, name or "*") of a scope; config validation guarantees exactly one is set."""
    for kind in KINDS:
        v = getattr(s, kind)
        if v is not None:
            return kind, v
    raise ValueError("a scope names exactly one of: " + ", ".join(KINDS))


def scope_problems(s: Scope, path: str, budget: bool) -> list[str]:
    set_ = [k for k in KINDS if getattr(s, k) is not None]
    if len(set_) != 1:
        return [f"{path}: name exactly one of {', '.join(KINDS)} (got {', '.join(set_) or 'none'})"]
    if budget and set_[0] == "deployment":
        return [f"{path}: budgets apply to callers and models; a deployment takes rate limits (provider quotas)"]
    return []


@dataclass(frozen=True, slots=True)
class _Budget:
    name: str
    match: str
    period: str
    limit_nano: int
    soft_nano: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Rate:
    name: str
    match: str
    rpm: int | None
    tpm: int | None
    concurrent: int | None


@dataclass(frozen=True, slots=True)
class Subject:
    """What the scopes of one request are matched against: (id, name) per kind."""

    key: tuple[str, str] | None
    user: tuple[str, str] | None
    service_account: tuple[str, str] | None
    team: tuple[str, str] | None
    agent: tuple[str, str] | None
    org: tuple[str, str] | None
    model: tuple[str, str] | None


def subject_of(p: Any, team_id: str | None, model: str, names: Callable[[str, str], str | None]) -> Subject:
    """``names(kind, id)``: a team's or organisation's name (identity directory)."""
    user = p if p.kind == "user" else p.acting_for
    return Subject(
        key=(p.key_id, p.name if p.kind == "config" else p.key_id),
        user=(user.id, user.name) if user is not None else None,
        service_account=(p.id, p.name) if p.kind == "service_account" else None,
        team=(team_id, names("team", team_id) or team_id) if team_id else None,
        agent=(p.id, p.name) if p.kind == "agent" else None,
        org=(p.org_id, names("org", p.org_id) or p.org_id) if p.org_id else None,
        model=(model, model),
    )


class LimitsPlan:
    """The configured budgets and rate limits, grouped by the kind of subject they match."""

    def __init__(self, cfg: LimitsConfig, clock_tz: str | None = None) -> None:
        self.tz = clock_tz or cfg.timezone
        self.budgets: dict[str, list[_Budget]] = {}
        self.rates: dict[str, list[_Rate]] = {}
        for b in cfg.budgets:
            kind, match = scope_of(b.scope)
            limit = usd_to_nano(b.limit_usd)
            soft = tuple(sorted(usd_to_nano(b.limit_usd * f) for f in b.soft_thresholds if 0 < f < 1))
            self.budgets.setdefault(kind, []).append(_Budget(b.name, match, b.period, limit, soft))
        for r in cfg.rate_limits:
            kind, match = scope_of(r.scope)
            self.rates.setdefault(kind, []).append(_Rate(r.name, match, r.rpm, r.tpm, r.concurrent))
        self.deployment_rates = self.rates.pop("deployment", [])
        self.active = bool(self.budgets or self.rates)
        self._periods: dict[str, tuple[int, int | None]] = {}
        # Subject -> its counters, until the earliest period among them ends: most requests
        # come from few subjects, so the keys are built once per subject and period.
        self._keys: dict[Subject, tuple[float, tuple[tuple[BudgetKey, ...], tuple[RateKey, ...]]]] = {}

    def _period(self, period: str, now: float) -> tuple[int, int | None]:
        cached = self._periods.get(period)
        if cached is not None and (cached[1] is None or now < cached[1]) and now >= cached[0]:
            return cached
        bounds = period_bounds(period, now, self.tz)  # type: ignore[arg-type]
        self._periods[period] = bounds
        return bounds

    def keys(self, s: Subject, now: float) -> tuple[tuple[BudgetKey, ...], tuple[RateKey, ...]]:
        hit = self._keys.get(s)
        if hit is not None and now < hit[0]:
            return hit[1]
        out = self._build_keys(s, now)
        until = min((b.reset_at for b in out[0] if b.reset_at is not None), default=float("inf"))
        if len(self._keys) >= 50_000:
            self._keys.clear()  # bounded: rebuilt on demand
        self._keys[s] = (until, out)
        return out

    def _build_keys(self, s: Subject, now: float) -> tuple[tuple[BudgetKey, ...], tuple[RateKey, ...]]:
        budgets: list[BudgetKey] = []
        rates: list[RateKey] = []
        for kind, entries in self.budgets.items():
            who = getattr(s, kind)
            if who is None:
                continue
            for b in entries:
                if b.match == "*" or b.match == who[1]:
                    start, reset = self._period(b.period, now)
                    budgets.append(BudgetKey(b.name, who[0] if b.match == "*" else "", start, reset,
                                             b.limit_nano, b.soft_nano))
        for kind, rentries in self.rates.items():
            who = getattr(s, kind)
            if who is None:
                continue
            for r in rentries:
                if r.match == "*" or r.match == who[1]:
                    rates.append(RateKey(r.name, who[0] if r.match == "*" else "", r.rpm, r.tpm, r.concurrent))
        return tuple(budgets), tuple(rates)

    def deployment_keys(self, deployment: str) -> tuple[RateKey, ...]:
        return tuple(
            RateKey(r.name, deployment if r.match == "*" else "", r.rpm, r.tpm, r.concurrent)
            for r in self.deployment_rates if r.match == "*" or r.match == deployment
        )
