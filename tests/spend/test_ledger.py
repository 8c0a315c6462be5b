"""The ledger's SQL on both stores: inserts, every group-by against a reference sum in
Python, filters, ordering, and the day of a request in the configured time zone."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest

from switchgear.spend import ledger
from switchgear.spend.ledger import GROUP_BY, SpendFilter, SpendTotals
from switchgear.spend.record import SpendRecord
from switchgear.store.database import Database
from tests.spend.helpers import T0, record, rows

RECORDS = [record(i) for i in range(60)]
_ATTR: dict[str, Callable[[SpendRecord], Any]] = {
    "key": lambda r: r.credential_id, "user": lambda r: r.user_id, "team": lambda r: r.team_id,
    "agent": lambda r: r.agent_id, "org": lambda r: r.org_id, "model": lambda r: r.model,
    "provider": lambda r: r.provider, "day": lambda r: time.strftime("%Y-%m-%d", time.gmtime(r.ts)),
}


def expected(records: list[SpendRecord], key: Callable[[SpendRecord], Any]) -> dict[Any, tuple[int, ...]]:
    out: dict[Any, list[int]] = {}
    for r in records:
        s = out.setdefault(key(r), [0] * 9)
        for i, v in enumerate((1, r.input_tokens, r.output_tokens, r.cached_input_tokens, r.cache_write_tokens,
                               r.reasoning_tokens, r.cost_nano, int(r.estimated), int(r.cached))):
            s[i] += v
    return {k: tuple(v) for k, v in out.items()}


def figures(t: SpendTotals) -> tuple[int, ...]:
    return (t.requests, t.input_tokens, t.output_tokens, t.cached_input_tokens, t.cache_write_tokens,
            t.reasoning_tokens, t.cost_nano, t.estimated_requests, t.cached_requests)


@pytest.fixture
def db(store_url: str):  # type: ignore[no-untyped-def]
    d = Database(store_url)
    d.run_sync(ledger.insert, RECORDS, UTC)
    yield d
    d.close_sync()


@pytest.mark.parametrize("group_by", GROUP_BY)
def test_every_group_by_sums_what_python_sums(db: Database, group_by: ledger.GroupBy) -> None:
    mine = [r for r in RECORDS if r.org_id == "org_a"]
    got = db.run_sync(ledger.aggregate, "org_a", group_by, None, None)
    assert {r.key: figures(r) for r in got} == expected(mine, _ATTR[group_by])
    assert len(got) == len({_ATTR[group_by](r) for r in mine})  # one row per value, None included
    for r in got:
        assert r.cost_usd == r.cost_nano / 1e9 and isinstance(r.cost_nano, int)
    total = db.run_sync(ledger.total, "org_a", None, None)
    assert figures(total) == tuple(map(sum, zip(*(figures(r) for r in got), strict=True)))


def test_rows_are_ordered_by_cost_and_days_by_date(db: Database) -> None:
    by_key = db.run_sync(ledger.aggregate, "org_a", "key", None, None)
    assert [r.cost_nano for r in by_key] == sorted((r.cost_nano for r in by_key), reverse=True)
    by_day = db.run_sync(ledger.aggregate, "org_a", "day", None, None)
    assert [r.key for r in by_day] == sorted(r.key for r in by_day) and by_day[0].key == "2024-06-01"
    top = db.run_sync(lambda c: ledger.aggregate(c, "org_a", "key", None, None, limit=2))
    assert [r.key for r in top] == [r.key for r in by_key[:2]]


def test_ties_are_ordered_by_name_with_none_last_on_both_stores(store_url: str) -> None:
    d = Database(store_url)
    try:
        same = {"cost_nano": 5, "org_id": "o"}
        d.run_sync(ledger.insert, [record(1, team_id="team_b", **same), record(2, team_id=None, **same),
                                   record(3, team_id="Team_c", **same), record(4, team_id="team_a", **same)], UTC)
        got = d.run_sync(ledger.aggregate, "o", "team", None, None)
        assert [r.key for r in got] == ["Team_c", "team_a", "team_b", None]  # byte order, then no team
    finally:
        d.close_sync()


def test_the_range_is_since_inclusive_until_exclusive(db: Database) -> None:
    # Requests 1..4 of org_a are at T0 + 6h, 12h, 18h, 24h.
    got = db.run_sync(ledger.total, "org_a", T0 + 6 * 3600, T0 + 24 * 3600)
    assert got.requests == 3 and got.cost_nano == sum(1_000 * i + 7 for i in (1, 2, 3))
    assert db.run_sync(ledger.total, "org_a", T0 + 10**9, None).requests == 0


def test_filters_narrow_every_read(db: Database) -> None:
    def total(**kw: Any) -> int:
        return db.run_sync(ledger.total, "org_a", None, None, SpendFilter(**kw)).requests

    mine = [r for r in RECORDS if r.org_id == "org_a"]
    assert total(team_ids=("team_ml",)) == sum(r.team_id == "team_ml" for r in mine)
    assert total(team_ids=("team_ml", "team_web")) == sum(r.team_id is not None for r in mine)
    assert total(team_ids=()) == 0  # no teams is nothing, never everything
    assert total(principal_id="agt_1") == sum(r.principal_id == "agt_1" for r in mine)
    assert total(user_id="usr_1", model="gpt-4o") == sum(r.user_id == "usr_1" and r.model == "gpt-4o" for r in mine)
    assert total(provider="anthropic") == sum(r.provider == "anthropic" for r in mine) > 0
    assert total(agent_id="agt_0", credential_id="sk-sg-key00000") == sum(
        r.agent_id == "agt_0" and r.credential_id == "sk-sg-key00000" for r in mine)
    assert db.run_sync(ledger.total, "org_nobody", None, None).requests == 0
    by_team = db.run_sync(ledger.aggregate, "org_a", "team", None, None, SpendFilter(team_ids=("team_web",)))
    assert [r.key for r in by_team] == ["team_web"]


def test_a_retried_batch_counts_each_request_once(db: Database) -> None:
    before = db.run_sync(ledger.total, "org_a", None, None)
    # The same batch again, as after a commit whose acknowledgement was lost.
    db.run_sync(ledger.insert, RECORDS[:10], UTC)
    assert figures(db.run_sync(ledger.total, "org_a", None, None)) == figures(before)
    assert len(rows(db)) == len(RECORDS)


def test_a_record_is_stored_field_for_field(db: Database) -> None:
    r = record(7, request_id="req_new", estimated=True, cached=True)
    db.run_sync(ledger.insert, [r], UTC)
    stored = db.run_sync(lambda c: c.one("SELECT * FROM spend_ledger WHERE request_id = ?", (r.request_id,)))
    columns = db.run_sync(lambda c: [d[0] for d in c.execute("SELECT * FROM spend_ledger LIMIT 0").description])
    got = dict(zip(columns, stored or (), strict=True))
    want = {f: getattr(r, f) for f in r.__struct_fields__} | {"estimated": 1, "cached": 1, "day": "2024-06-02"}
    assert got == want


def test_nothing_to_insert_is_no_statement(db: Database) -> None:
    db.run_sync(ledger.insert, [], UTC)
    assert len(rows(db)) == len(RECORDS)


def test_an_unknown_group_by_never_reaches_sql(db: Database) -> None:
    with pytest.raises(KeyError):
        db.run_sync(ledger.aggregate, "org_a", "credential_id; DROP TABLE spend_ledger", None, None)


# ---- the day of a request, in the limits time zone ---------------------------------------


def _utc(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("tz", "instant", "day"), [
    # New York, winter (UTC-5): midnight is 05:00Z.
    ("America/New_York", "2024-01-15T04:59:59", "2024-01-14"),
    ("America/New_York", "2024-01-15T05:00:00", "2024-01-15"),
    # The day DST starts (2024-03-10) ends at 04:00Z: that day is 23 hours long.
    ("America/New_York", "2024-03-11T03:59:59", "2024-03-10"),
    ("America/New_York", "2024-03-11T04:00:00", "2024-03-11"),
    # Kolkata (UTC+5:30): a UTC evening is already tomorrow.
    ("Asia/Kolkata", "2024-06-01T18:29:59", "2024-06-01"),
    ("Asia/Kolkata", "2024-06-01T18:30:00", "2024-06-02"),
    ("UTC", "2024-06-01T23:59:59", "2024-06-01"),
])
def test_the_day_is_the_calendar_day_in_the_zone(tz: str, instant: str, day: str) -> None:
    assert ledger.day_of(_utc(instant), ledger.zone(tz)) == day


def test_daily_totals_split_at_local_midnight(store_url: str) -> None:
    d = Database(store_url)
    try:
        tokyo = ledger.zone("Asia/Tokyo")  # UTC+9: local midnight is 15:00Z
        batch = [record(0, org_id="o", ts=_utc("2024-06-01T14:59:59"), cost_nano=1),
                 record(1, org_id="o", ts=_utc("2024-06-01T15:00:00"), cost_nano=10),
                 record(2, org_id="o", ts=_utc("2024-06-02T14:00:00"), cost_nano=100)]
        d.run_sync(ledger.insert, batch, tokyo)
        got = d.run_sync(ledger.aggregate, "o", "day", None, None)
        assert [(r.key, r.cost_nano) for r in got] == [("2024-06-01", 1), ("2024-06-02", 110)]
        # By UTC dates the split would be 11 and 100: the zone decides, not the UTC date.
        assert [time.strftime("%Y-%m-%d", time.gmtime(r.ts)) for r in batch] == ["2024-06-01"] * 2 + ["2024-06-02"]
    finally:
        d.close_sync()


def test_an_unknown_zone_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        ledger.zone("Mars/Olympus")
    assert ledger.zone(UTC) is UTC
