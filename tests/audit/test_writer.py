from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from switchgear.audit.signing import Signer
from switchgear.audit.verify import verify
from switchgear.audit.writer import AuditWriter
from switchgear.config.schema import AuditConfig
from switchgear.store.database import Database
from tests.audit.helpers import entry, request_ids


async def wait_for(cond, what: str) -> None:  # type: ignore[no-untyped-def]
    # Waits for an event the test caused; the bound only turns a hang into a failure.
    for _ in range(2000):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


async def test_stop_flushes_everything_and_signs_the_head(store_url: str) -> None:
    db = Database(store_url)
    signer = Signer.generate()
    # An interval far beyond the test: only stop() can have written these.
    w = AuditWriter(db, AuditConfig(flush_interval_ms=3_600_000, batch_max=100, checkpoint_every=1000), signer)
    try:
        await w.start()
        for i in range(250):
            assert w.submit(entry(i))
        assert w.queue_depth == 250
        assert await w.stop() == 0
        assert (w.written, w.queue_depth, w.flush_errors, w.last_seq) == (250, 0, 0, 250)
        assert request_ids(db) == [f"r{i}" for i in range(250)]
        report = await asyncio.to_thread(verify, db, [signer.public_key])
        assert report.ok and report.last_checkpoint_seq == 250  # nothing left unsigned
        assert not w.submit(entry(999)) and w.dropped == 1  # stopped: refused and counted
    finally:
        await db.close()


async def test_a_full_batch_flushes_before_the_interval(store_url: str) -> None:
    db = Database(store_url)
    w = AuditWriter(db, AuditConfig(flush_interval_ms=3_600_000, batch_max=10), None)
    try:
        await w.start()
        for i in range(9):
            w.submit(entry(i))
        await asyncio.sleep(0.05)
        assert w.written == 0  # fewer than batch_max wait for the interval
        w.submit(entry(9))
        await wait_for(lambda: w.written == 10, "a flush of the full batch")
        assert await w.stop() == 0
    finally:
        await db.close()


async def test_the_interval_flushes_a_partial_batch(store_url: str) -> None:
    db = Database(store_url)
    w = AuditWriter(db, AuditConfig(flush_interval_ms=5, batch_max=1000), None)
    try:
        await w.start()
        w.submit(entry(0))
        await wait_for(lambda: w.written == 1, "an interval flush")
        assert await w.stop() == 0
    finally:
        await db.close()


async def test_a_failed_flush_keeps_entries_in_order_until_the_store_is_back(store_url: str) -> None:
    db = Database(store_url)
    w = AuditWriter(db, AuditConfig(batch_max=100), None)
    try:
        for i in range(5):
            w.submit(entry(i))
        await db.run(lambda c: c.execute("ALTER TABLE audit_head RENAME TO audit_head_away"))
        assert not await w.flush_once()
        assert not await w.flush_once()
        assert (w.flush_errors, w.queue_depth, w.written) == (2, 5, 0)
        assert "audit_head" in (w.last_error or "")
        for i in range(5, 8):
            w.submit(entry(i))
        await db.run(lambda c: c.execute("ALTER TABLE audit_head_away RENAME TO audit_head"))
        assert await w.flush_once()
        assert (w.queue_depth, w.written) == (0, 8)
        assert request_ids(db) == [f"r{i}" for i in range(8)]
        assert (await asyncio.to_thread(verify, db, None)).ok
    finally:
        await db.close()


async def test_the_background_task_retries_until_the_store_is_back(store_url: str) -> None:
    db = Database(store_url)
    w = AuditWriter(db, AuditConfig(flush_interval_ms=1, batch_max=3), None, retry_max_s=0.02)
    try:
        await db.run(lambda c: c.execute("ALTER TABLE audit_head RENAME TO audit_head_away"))
        await w.start()
        for i in range(7):
            w.submit(entry(i))
        await wait_for(lambda: w.flush_errors >= 2, "failed flushes")
        await db.run(lambda c: c.execute("ALTER TABLE audit_head_away RENAME TO audit_head"))
        assert await w.stop() == 0
        assert request_ids(db) == [f"r{i}" for i in range(7)]
    finally:
        await db.close()


async def test_drop_mode_is_bounded_and_counts(store_url: str) -> None:
    db = Database(store_url)
    w = AuditWriter(db, AuditConfig(queue_max=5, on_full="drop"), None)
    try:
        results = [w.submit(entry(i)) for i in range(8)]
        assert results == [True] * 5 + [False] * 3
        assert (w.full, w.dropped, w.queue_depth) == (True, 3, 5)
        assert await w.stop() == 0
        assert request_ids(db) == [f"r{i}" for i in range(5)]
    finally:
        await db.close()


async def test_reject_mode_signals_full_and_keeps_admitted_requests_up_to_a_hard_bound(store_url: str) -> None:
    db = Database(store_url)
    w = AuditWriter(db, AuditConfig(queue_max=4, on_full="reject"), None)
    try:
        for i in range(4):
            assert w.submit(entry(i)) and (w.full is (i == 3))
        # The gateway now answers 503; requests already admitted still get their entries …
        assert all(w.submit(entry(i)) for i in range(4, 8))
        # … up to twice queue_max, so memory stays bounded whatever happens.
        assert not w.submit(entry(8)) and w.dropped == 1
        assert await w.stop() == 0 and w.written == 8
    finally:
        await db.close()


async def test_the_jsonl_sink_gets_every_batch_and_its_failure_loses_nothing(store_url: str, tmp_path: Path) -> None:
    db = Database(store_url)
    path = tmp_path / "audit.jsonl"
    w = AuditWriter(db, AuditConfig(batch_max=3, jsonl_file=str(path)), None)
    broken = AuditWriter(db, AuditConfig(batch_max=3, jsonl_file=str(tmp_path)), None)  # a directory
    try:
        for i in range(5):
            w.submit(entry(i))
        assert await w.flush_once() and await w.flush_once()
        assert [msgspec.json.decode(x)["seq"] for x in path.read_bytes().splitlines()] == [1, 2, 3, 4, 5]
        broken.submit(entry(5))
        assert await broken.flush_once()
        assert (broken.sink_errors, broken.written) == (1, 1)
        assert request_ids(db)[-1] == "r5"  # the store write stood
        assert await w.stop() == 0 and await broken.stop() == 0
    finally:
        await db.close()


async def test_stop_gives_up_after_its_timeout_and_reports_the_loss(store_url: str) -> None:
    db = Database(store_url)
    w = AuditWriter(db, AuditConfig(batch_max=10), None, retry_max_s=0.01)
    try:
        await db.run(lambda c: c.execute("ALTER TABLE audit_head RENAME TO audit_head_away"))
        await w.start()
        for i in range(3):
            w.submit(entry(i))
        assert await w.stop(timeout=0.2) == 3
    finally:
        await db.run(lambda c: c.execute("ALTER TABLE audit_head_away RENAME TO audit_head"))
        await db.close()
