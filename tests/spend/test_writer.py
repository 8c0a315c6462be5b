"""The spend writer on both stores: batches, stop-flush, bounds, and a store outage
(the ledger table taken away under it) survived without loss or reordering."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from switchgear.spend.writer import SpendWriter
from switchgear.store.database import Database
from tests.spend.helpers import record, rows

HOUR_MS = 3_600_000  # an interval far beyond any test: only a full batch or stop() flushes


async def wait_for(cond: Callable[[], bool], what: str) -> None:
    # Waits for an event the test caused; the bound only turns a hang into a failure.
    for _ in range(2000):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def ids(db: Database) -> list[str]:
    return [r[0] for r in rows(db)]


@pytest.fixture
async def db(store_url: str) -> AsyncIterator[Database]:
    d = Database(store_url)
    yield d
    await d.close()


async def take_ledger_away(db: Database) -> None:
    await db.run(lambda c: c.execute("ALTER TABLE spend_ledger RENAME TO spend_ledger_away"))


async def bring_ledger_back(db: Database) -> None:
    await db.run(lambda c: c.execute("ALTER TABLE spend_ledger_away RENAME TO spend_ledger"))


async def test_stop_writes_everything_queued(db: Database) -> None:
    w = SpendWriter(db, "Asia/Tokyo", batch_max=100, flush_interval_ms=HOUR_MS)
    await w.start()
    for i in range(250):
        assert w.submit(record(i))
    assert (w.queue_depth, w.written) == (250, 0)
    assert await w.stop() == 0
    assert (w.written, w.queue_depth, w.flush_errors, w.dropped) == (250, 0, 0, 0)
    assert ids(db) == [f"req_{i:04d}" for i in range(250)]
    # The writer computed each day in its zone: request 2 is at 12:00Z, 21:00 in Tokyo.
    assert rows(db)[2][1] == "2024-06-01" and rows(db)[3][1] == "2024-06-02"  # 18:00Z is 03:00 next day
    assert not w.submit(record(999)) and w.dropped == 1  # stopped: refused and counted


async def test_stop_without_start_still_writes(db: Database) -> None:
    w = SpendWriter(db, "UTC", flush_interval_ms=HOUR_MS)
    w.submit(record(0))
    assert await w.stop() == 0 and ids(db) == ["req_0000"]


async def test_a_full_batch_is_written_without_waiting_for_the_interval(db: Database) -> None:
    w = SpendWriter(db, "UTC", batch_max=10, flush_interval_ms=HOUR_MS)
    await w.start()
    for i in range(25):
        w.submit(record(i))
    await wait_for(lambda: w.written == 20, "two full batches written")
    assert w.queue_depth == 5  # the partial batch waits for the interval (or stop)
    assert await w.stop() == 0 and w.written == 25


async def test_the_interval_writes_a_partial_batch(db: Database) -> None:
    w = SpendWriter(db, "UTC", batch_max=1000, flush_interval_ms=5)
    await w.start()
    w.submit(record(0))
    await wait_for(lambda: w.written == 1, "an interval flush")
    assert await w.stop() == 0


async def test_a_failed_flush_keeps_records_in_order_until_the_store_is_back(db: Database) -> None:
    w = SpendWriter(db, "UTC", batch_max=100)
    for i in range(5):
        w.submit(record(i))
    await take_ledger_away(db)
    assert not await w.flush_once()
    assert not await w.flush_once()
    assert (w.flush_errors, w.queue_depth, w.written) == (2, 5, 0)
    assert "spend_ledger" in (w.last_error or "")
    for i in range(5, 8):
        w.submit(record(i))
    await bring_ledger_back(db)
    assert await w.flush_once()
    assert (w.queue_depth, w.written) == (0, 8)
    assert ids(db) == [f"req_{i:04d}" for i in range(8)]


async def test_the_background_task_retries_until_the_store_is_back(db: Database) -> None:
    w = SpendWriter(db, "UTC", batch_max=3, flush_interval_ms=1, retry_max_s=0.02)
    await take_ledger_away(db)
    await w.start()
    for i in range(7):
        w.submit(record(i))
    await wait_for(lambda: w.flush_errors >= 2, "failed flushes")
    assert w.written == 0
    await bring_ledger_back(db)
    assert await w.stop() == 0
    assert ids(db) == [f"req_{i:04d}" for i in range(7)] and w.written == 7


async def test_stop_reports_what_a_store_that_stays_down_lost(db: Database) -> None:
    w = SpendWriter(db, "UTC", retry_max_s=0.01)
    await take_ledger_away(db)
    for i in range(4):
        w.submit(record(i))
    await w.start()
    await wait_for(lambda: w.flush_errors >= 1, "a failed flush")
    assert await w.stop(timeout=0.2) == 4
    await bring_ledger_back(db)
    assert ids(db) == []


async def test_drop_mode_is_bounded_and_counts(db: Database) -> None:
    w = SpendWriter(db, "UTC", queue_max=5)
    assert [w.submit(record(i)) for i in range(8)] == [True] * 5 + [False] * 3
    assert (w.full, w.dropped, w.queue_depth) == (True, 3, 5)
    assert await w.stop() == 0
    assert ids(db) == [f"req_{i:04d}" for i in range(5)]


async def test_reject_mode_signals_full_and_keeps_admitted_requests_up_to_a_hard_bound(db: Database) -> None:
    w = SpendWriter(db, "UTC", queue_max=4, on_full="reject")
    for i in range(4):
        assert w.submit(record(i)) and (w.full is (i == 3))
    assert all(w.submit(record(i)) for i in range(4, 8))  # requests already admitted still fit …
    assert not w.submit(record(8)) and w.dropped == 1  # … up to twice queue_max
    assert await w.stop() == 0 and w.written == 8


def test_an_unknown_zone_fails_at_construction(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path}/x.db")
    try:
        with pytest.raises(ValueError, match="unknown time zone 'Not/AZone'"):
            SpendWriter(db, "Not/AZone")
    finally:
        db.close_sync()
