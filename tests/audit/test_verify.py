"""Tampering with a real database, on both backends, and what verify says about it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from switchgear.audit import chain
from switchgear.audit.signing import Signer
from switchgear.audit.verify import VerifyReport, main_report_text, verify
from switchgear.audit.writer import AuditWriter
from switchgear.config.schema import AuditConfig
from switchgear.store.database import Database
from tests.audit.helpers import entry, entry_at, exec_sql, fill, rewrite_from, rows

N = 40  # entries; a signed checkpoint every 10


@pytest.fixture
def signer() -> Signer:
    return Signer.generate()


@pytest.fixture
def db(store_url: str, signer: Signer) -> Iterator[Database]:
    d = Database(store_url)
    fill(d, N, signer, every=10)
    yield d
    d.close_sync()


def check(db: Database, signer: Signer, page_size: int = 5000) -> VerifyReport:
    return verify(db, [signer.public_key], page_size=page_size)


def kinds(report: VerifyReport) -> list[tuple[str, int | None]]:
    return [(p.kind, p.seq) for p in report.problems]


def hash_at(db: Database, seq: int) -> str:
    return next(r[5] for r in rows(db) if r[0] == seq)


def test_a_clean_chain_verifies(db: Database, signer: Signer) -> None:
    report = check(db, signer)
    assert report.ok and report.problems == []
    assert (report.entries_checked, report.head_seq) == (N, N)
    assert (report.checkpoints_total, report.checkpoints_verified, report.last_checkpoint_seq) == (4, 4, 40)
    assert report.signatures_checked
    assert main_report_text(report).startswith("audit chain OK: 40 entries checked")
    # Also inside one transaction, and with pages smaller than a checkpoint interval.
    assert db.run_sync(lambda c: verify(c, [signer.public_key])).ok
    assert check(db, signer, page_size=3).ok


def test_an_empty_chain_verifies(store_url: str, signer: Signer) -> None:
    d = Database(store_url)
    try:
        report = check(d, signer)
        assert report.ok and report.entries_checked == 0 and report.head_seq == 0
    finally:
        d.close_sync()


@pytest.mark.parametrize("page_size", [5000, 4])
def test_a_modified_entry_is_named(db: Database, signer: Signer, page_size: int) -> None:
    exec_sql(db, "UPDATE audit_log SET entry = replace(entry, 'gpt-4o', 'gpt-3') WHERE seq = 15")
    report = check(db, signer, page_size)
    assert not report.ok
    assert kinds(report) == [("modified", 15)]
    assert "entry 15 was modified" in report.problems[0].message


def test_unparseable_entry_json_is_reported(db: Database, signer: Signer) -> None:
    exec_sql(db, "UPDATE audit_log SET entry = 'garbage' WHERE seq = 3")
    report = check(db, signer)
    assert kinds(report) == [("modified", 3), ("index", 3)]
    assert "not valid entry JSON" in report.problems[1].message


def test_a_changed_index_column_is_named(db: Database, signer: Signer) -> None:
    # Indexed columns are not hashed: verify compares them with the hashed JSON.
    exec_sql(db, "UPDATE audit_log SET credential_id = 'someone-else' WHERE seq = 7")
    report = check(db, signer)
    assert kinds(report) == [("index", 7)]
    assert "credential_id" in report.problems[0].message


def test_a_changed_timestamp_column_breaks_the_hash(db: Database, signer: Signer) -> None:
    exec_sql(db, "UPDATE audit_log SET ts = ts + 3600 WHERE seq = 8")
    assert kinds(check(db, signer)) == [("modified", 8), ("index", 8)]


@pytest.mark.parametrize("page_size", [5000, 4])
def test_a_deleted_entry_is_named_with_its_neighbours(db: Database, signer: Signer, page_size: int) -> None:
    exec_sql(db, "DELETE FROM audit_log WHERE seq = 15")
    report = check(db, signer, page_size)
    assert kinds(report) == [("missing", 15)]
    assert report.problems[0].message == "entry 15 is missing (deleted between seq 14 and seq 16)"


def test_deleted_runs_and_checkpointed_entries(db: Database, signer: Signer) -> None:
    exec_sql(db, "DELETE FROM audit_log WHERE seq >= 19 AND seq <= 21")
    report = check(db, signer)
    assert kinds(report) == [("missing", 19), ("checkpoint_missing_entry", 20)]
    assert "entries 19–21 are missing (deleted between seq 18 and seq 22)" == report.problems[0].message


def test_deleted_and_renumbered_entries(db: Database, signer: Signer) -> None:
    # Delete 15 and close the gap: every later row now sits at the wrong seq.
    exec_sql(db, "DELETE FROM audit_log WHERE seq = 15")
    exec_sql(db, "UPDATE audit_log SET seq = -seq WHERE seq > 15")
    exec_sql(db, "UPDATE audit_log SET seq = -seq - 1 WHERE seq < 0")
    report = check(db, signer)
    assert ("missing", 15) in kinds(report)
    moved = next(p for p in report.problems if p.kind == "moved")
    assert (moved.seq, moved.end_seq) == (15, 39)
    assert "sealed as seq 16–40" in moved.message
    assert ("head", 40) in kinds(report)  # the head still says 40; the log ends at 39


def test_an_inserted_entry_is_named(db: Database, signer: Signer) -> None:
    # Make room at 15 and insert a well-formed, correctly hashed entry there.
    exec_sql(db, "UPDATE audit_log SET seq = -seq WHERE seq >= 15")
    exec_sql(db, "UPDATE audit_log SET seq = -seq + 1 WHERE seq < 0")
    forged = entry(999, request_id="forged", credential_id="k9")
    text = chain.canonical(forged)
    prev = hash_at(db, 14)
    exec_sql(
        db,
        "INSERT INTO audit_log (seq, ts, kind, org_id, principal_id, agent_id, credential_id, action, decision,"
        " entry, prev_hash, hash) VALUES (?, ?, 'request', 'org1', 'p0', NULL, 'k9', 'chat', 'allow', ?, ?, ?)",
        (15, forged.ts, text, prev, chain.link(prev, 15, forged.ts, "request", text)),
    )
    report = check(db, signer)
    assert ("inserted", 15) in kinds(report)
    assert "entry 15 was inserted" in next(p.message for p in report.problems if p.seq == 15 and p.kind == "inserted")
    moved = next(p for p in report.problems if p.kind == "moved")
    assert (moved.seq, moved.end_seq) == (16, 41)
    assert ("inserted", 41) in kinds(report)  # the last row lies beyond the head
    assert not any(k.startswith("checkpoint") for k, _ in kinds(report))  # the signed history is intact


def test_an_entry_appended_behind_the_writers_back_is_named(db: Database, signer: Signer) -> None:
    forged = entry(41)
    text = chain.canonical(forged)
    prev = hash_at(db, 40)
    exec_sql(
        db,
        "INSERT INTO audit_log (seq, ts, kind, org_id, principal_id, agent_id, credential_id, action, decision,"
        " entry, prev_hash, hash) VALUES (41, ?, 'request', 'org1', 'p2', NULL, 'k1', 'chat', 'allow', ?, ?, ?)",
        (forged.ts, text, prev, chain.link(prev, 41, forged.ts, "request", text)),
    )
    report = check(db, signer)
    assert kinds(report) == [("inserted", 41)]
    assert "beyond the chain's head (seq 40)" in report.problems[0].message


@pytest.mark.parametrize("pair", [(15, 16), (12, 17)])
def test_swapped_entries_are_named(db: Database, signer: Signer, pair: tuple[int, int]) -> None:
    a, b = pair
    exec_sql(db, "UPDATE audit_log SET seq = -1 WHERE seq = ?", (a,))
    exec_sql(db, "UPDATE audit_log SET seq = ? WHERE seq = ?", (a, b))
    exec_sql(db, "UPDATE audit_log SET seq = ? WHERE seq = -1", (b,))
    report = check(db, signer)
    assert kinds(report) == [("swapped", a)]
    assert report.problems[0].message == f"entries {a} and {b} were swapped"


def test_one_rehashed_entry(db: Database, signer: Signer) -> None:
    text = chain.canonical(entry_at(25, model="innocent"))
    row = next(r for r in rows(db) if r[0] == 25)
    exec_sql(db, "UPDATE audit_log SET entry = ?, hash = ? WHERE seq = 25", (text, chain.link(row[4], 25, row[1], row[2], text)))
    report = check(db, signer)
    assert kinds(report) == [("rehashed", 25)]
    assert "entry 25 was modified and its hash recomputed" in report.problems[0].message


def test_a_consistently_rewritten_chain_is_caught_by_the_checkpoints(db: Database, signer: Signer) -> None:
    rewrite_from(db, 15, chain.canonical(entry_at(15, model="innocent")))
    report = check(db, signer)
    # Every hash and link checks out; only the signed checkpoints remember the old chain.
    assert kinds(report) == [("checkpoint_mismatch", 20)]
    p = report.problems[0]
    assert p.end_seq == 40
    assert "an entry in seq 11–20 was changed" in p.message and "up to seq 40" in p.message
    assert report.checkpoints_verified == 1 and report.last_checkpoint_seq == 10


def test_a_forged_checkpoint_signature_is_named(db: Database, signer: Signer) -> None:
    sig10 = db.run_sync(lambda c: c.one("SELECT signature FROM audit_checkpoints WHERE seq = 10"))[0]
    exec_sql(db, "UPDATE audit_checkpoints SET signature = ? WHERE seq = 20", (sig10,))
    attacker = Signer.generate()
    cp30 = db.run_sync(lambda c: c.one("SELECT hash, ts FROM audit_checkpoints WHERE seq = 30"))
    exec_sql(db, "UPDATE audit_checkpoints SET signature = ? WHERE seq = 30", (attacker.sign(30, cp30[0], cp30[1]),))
    report = check(db, signer)
    assert kinds(report) == [("checkpoint_signature", 20)]
    assert report.problems[0].end_seq == 30 and report.checkpoints_verified == 2


def test_a_rewrite_with_re_signed_checkpoints_needs_the_key(db: Database, signer: Signer) -> None:
    rewrite_from(db, 15, chain.canonical(entry_at(15, model="innocent")))
    attacker = Signer.generate()
    for seq in (20, 30, 40):
        h = hash_at(db, seq)
        exec_sql(
            db, "UPDATE audit_checkpoints SET hash = ?, key_id = ?, signature = ? WHERE seq = ?",
            (h, attacker.key_id, attacker.sign(seq, h, 1.0), seq),
        )
    report = check(db, signer)
    assert kinds(report) == [("checkpoint_unknown_key", 20)]
    assert "3 checkpoints at seq 20…40 are signed by key " + attacker.key_id in report.problems[0].message


def test_the_wrong_public_key_fails(db: Database, signer: Signer) -> None:
    report = verify(db, [Signer.generate().public_key])
    assert not report.ok and report.checkpoints_verified == 0
    assert kinds(report) == [("checkpoint_unknown_key", 10)]


def test_without_keys_signatures_are_not_checked_and_it_says_so(db: Database, signer: Signer) -> None:
    report = verify(db, None)
    assert report.ok and not report.signatures_checked and report.checkpoints_verified == 4
    assert "NOT checked" in main_report_text(report)


def test_a_head_that_disagrees_with_the_last_entry(db: Database, signer: Signer) -> None:
    exec_sql(db, "UPDATE audit_head SET hash = ? WHERE id = 1", ("f" * 64,))
    report = check(db, signer)
    assert kinds(report) == [("head", 40)]
    exec_sql(db, "UPDATE audit_head SET seq = 45 WHERE id = 1")
    assert "entries 41–45 were deleted" in check(db, signer).problems[0].message


def test_truncation_past_a_checkpoint_is_detected(db: Database, signer: Signer) -> None:
    exec_sql(db, "DELETE FROM audit_log WHERE seq > 35")
    exec_sql(db, "UPDATE audit_head SET seq = 35, hash = ? WHERE id = 1", (hash_at(db, 35),))
    report = check(db, signer)
    assert kinds(report) == [("checkpoint_beyond_end", 40)]
    assert "entries 36–40 were deleted" in report.problems[0].message


def test_truncation_after_the_last_checkpoint_is_the_documented_blind_spot(store_url: str, signer: Signer) -> None:
    d = Database(store_url)
    try:
        fill(d, 45, signer, every=10)
        exec_sql(d, "DELETE FROM audit_log WHERE seq > 40")
        exec_sql(d, "UPDATE audit_head SET seq = 40, hash = ? WHERE id = 1", (hash_at(d, 40),))
        report = check(d, signer)
        # Undetectable: nothing signed covered 41–45. The unsigned window is what bounds it.
        assert report.ok and report.last_checkpoint_seq == report.head_seq == 40
    finally:
        d.close_sync()


def test_the_report_text_lists_every_problem(db: Database, signer: Signer) -> None:
    exec_sql(db, "UPDATE audit_log SET entry = replace(entry, 'gpt-4o', 'x') WHERE seq = 5")
    exec_sql(db, "DELETE FROM audit_log WHERE seq = 9")
    text = main_report_text(check(db, signer))
    assert text.splitlines()[0] == "audit chain FAILED verification: 2 problems in 39 entries"
    assert "  - entry 5 was modified" in text and "  - entry 9 is missing" in text
    assert "checkpoints: 4 of 4 verified" in text


async def test_verifying_a_live_chain_reports_no_false_problems(store_url: str, signer: Signer) -> None:
    writer_db, verify_db = Database(store_url), Database(store_url)
    w = AuditWriter(writer_db, AuditConfig(flush_interval_ms=1, batch_max=5, checkpoint_every=4), signer)
    stop = asyncio.Event()

    async def traffic() -> None:
        i = 0
        while not stop.is_set():
            w.submit(entry(i))
            i += 1
            await asyncio.sleep(0.0005)

    try:
        await w.start()
        task = asyncio.create_task(traffic())
        await asyncio.sleep(0.05)
        reports = []
        for _ in range(3):  # walks in small pages while entries and checkpoints keep arriving
            reports.append(await asyncio.to_thread(verify, verify_db, [signer.public_key], page_size=3))
        stop.set()
        await task
        assert await w.stop() == 0
        assert all(r.ok for r in reports), [r.problems for r in reports]
        assert reports[-1].entries_checked > 0
        final = await asyncio.to_thread(verify, verify_db, [signer.public_key])
        assert final.ok and final.entries_checked == w.written
    finally:
        await writer_db.close()
        await verify_db.close()
