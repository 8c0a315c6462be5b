"""The spend ledger's SQL: batch inserts, and totals grouped one way or another.

Plain functions over a ``Conn`` (run them with ``Database.run``): the writer inserts,
the admin API aggregates. Every read is one organisation over ``[since, until)`` on
``ts``; the group-by column comes from a fixed table, never from the caller's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from switchgear.limits.types import NANO_PER_USD
from switchgear.spend.record import SpendRecord
from switchgear.store.database import Conn

GroupBy = Literal["key", "user", "team", "agent", "org", "model", "provider", "day"]
GROUP_BY: tuple[str, ...] = get_args(GroupBy)

# group_by -> column. "key" is the credential id (a key's prefix), never a secret.
_COLUMN: dict[str, str] = {
    "key": "credential_id", "user": "user_id", "team": "team_id", "agent": "agent_id", "org": "org_id",
    "model": "model", "provider": "provider", "day": "day",
}

_COLUMNS = (
    "request_id", "ts", "day", "org_id", "principal_id", "principal_kind", "credential_id", "agent_id", "user_id",
    "team_id", "model", "provider", "deployment", "input_tokens", "output_tokens", "cached_input_tokens",
    "cache_write_tokens", "reasoning_tokens", "cost_nano", "estimated", "cached",
)
# A batch retried after a commit that was never acknowledged must not count twice.
_INSERT = (
    f"INSERT INTO spend_ledger ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (request_id) DO NOTHING"
)
_SUMS = (
    "COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
    "COALESCE(SUM(cached_input_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), "
    "COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(cost_nano), 0), "
    "COALESCE(SUM(estimated), 0), COALESCE(SUM(cached), 0)"
)


class SpendTotals(msgspec.Struct, kw_only=True):
    """Sums over a set of requests. Money is exact in ``cost_nano``; ``cost_usd`` is for reading."""

    requests: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_nano: int
    cost_usd: float
    estimated_requests: int  # usage counted by the gateway: the upstream reported none
    cached_requests: int  # answered from the response cache


class SpendRow(SpendTotals, kw_only=True):
    key: str | None  # the group's value: a key prefix, user id, team id, …, or a 'YYYY-MM-DD' day; null: none


class SpendFilter(msgspec.Struct, kw_only=True, frozen=True):
    """Narrows a read. ``team_ids`` None reads every team (and requests charged to none);
    a tuple reads only requests charged to those teams — a team admin's view."""

    team_ids: tuple[str, ...] | None = None
    principal_id: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    credential_id: str | None = None
    model: str | None = None
    provider: str | None = None


_EQUALS = ("principal_id", "user_id", "agent_id", "credential_id", "model", "provider")
_ALL = SpendFilter()


def zone(tz: str | tzinfo) -> tzinfo:
    """A time zone by IANA name (or as given); ValueError naming it if it is unknown."""
    if not isinstance(tz, str):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r} (use an IANA name such as 'UTC' or 'Europe/Paris')") from None


def day_of(ts: float, tz: tzinfo) -> str:
    """The calendar day ('YYYY-MM-DD') of ``ts`` in ``tz``: the budgets' daily period."""
    return datetime.fromtimestamp(ts, tz).date().isoformat()


def insert(conn: Conn, records: Sequence[SpendRecord], tz: tzinfo) -> None:
    """Append records; one already in the ledger (same request_id) is left as it is."""
    if not records:
        return
    conn.executemany(_INSERT, [
        (r.request_id, r.ts, day_of(r.ts, tz), r.org_id, r.principal_id, r.principal_kind, r.credential_id,
         r.agent_id, r.user_id, r.team_id, r.model, r.provider, r.deployment, r.input_tokens, r.output_tokens,
         r.cached_input_tokens, r.cache_write_tokens, r.reasoning_tokens, r.cost_nano, int(r.estimated), int(r.cached))
        for r in records
    ])


def _where(org_id: str, since: float | None, until: float | None, f: SpendFilter) -> tuple[str, list[Any]]:
    terms = ["org_id = ?"]
    params: list[Any] = [org_id]
    if since is not None:
        terms.append("ts >= ?")
        params.append(since)
    if until is not None:
        terms.append("ts < ?")
        params.append(until)
    if f.team_ids is not None:
        if f.team_ids:
            terms.append(f"team_id IN ({', '.join('?' * len(f.team_ids))})")
            params.extend(f.team_ids)
        else:
            terms.append("1 = 0")  # no teams: nothing (never "every team")
    for name in _EQUALS:
        value = getattr(f, name)
        if value is not None:
            terms.append(f"{name} = ?")
            params.append(value)
    return " AND ".join(terms), params


def _totals(row: Sequence[Any]) -> dict[str, Any]:
    # PostgreSQL's SUM over BIGINT is NUMERIC (a Decimal): make every figure an int.
    n, inp, out, cached_in, cache_write, reasoning, cost, estimated, cached = (int(v) for v in row)
    return {"requests": n, "input_tokens": inp, "output_tokens": out, "cached_input_tokens": cached_in,
            "cache_write_tokens": cache_write, "reasoning_tokens": reasoning, "cost_nano": cost, "cost_usd": cost / NANO_PER_USD,
            "estimated_requests": estimated, "cached_requests": cached}


def aggregate(
    conn: Conn, org_id: str, group_by: GroupBy, since: float | None, until: float | None,
    filters: SpendFilter = _ALL, *, limit: int | None = None,
) -> list[SpendRow]:
    """One row per value of ``group_by`` (None is a value: e.g. requests charged to no
    team). Ordered by day for "day", else by cost, highest first; at most ``limit``."""
    column = _COLUMN[group_by]  # KeyError for anything else: never caller text in SQL
    where, params = _where(org_id, since, until, filters)
    if group_by == "day":
        order = "day"
    else:
        # Ties by name, NULL last, byte order on both backends (PostgreSQL's default
        # collation would otherwise order text differently from SQLite).
        collate = ' COLLATE "C"' if conn.dialect == "postgresql" else ""
        order = f"SUM(cost_nano) DESC, COUNT(*) DESC, {column} IS NULL, {column}{collate}"
    sql = f"SELECT {column}, {_SUMS} FROM spend_ledger WHERE {where} GROUP BY {column} ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [SpendRow(key=r[0], **_totals(r[1:])) for r in conn.all(sql, params)]


def total(
    conn: Conn, org_id: str, since: float | None, until: float | None, filters: SpendFilter = _ALL,
) -> SpendTotals:
    where, params = _where(org_id, since, until, filters)
    row = conn.one(f"SELECT {_SUMS} FROM spend_ledger WHERE {where}", params)
    assert row is not None  # an aggregate without GROUP BY always yields one row
    return SpendTotals(**_totals(row))
