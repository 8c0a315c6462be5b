"""Shared helpers for the audit tests: entries, a filled chain, raw tampering."""

from __future__ import annotations

from typing import Any

from switchgear.audit import chain
from switchgear.audit.entry import AuditEntry
from switchgear.audit.signing import Signer
from switchgear.audit.store import append
from switchgear.store.database import Conn, Database


def entry(i: int, **kw: Any) -> AuditEntry:
    fields: dict[str, Any] = {
        "ts": 1_700_000_000.0 + i * 0.25,
        "kind": "request",
        "action": "chat",
        "decision": "allow",
        "rule": "g1",
        "request_id": f"r{i}",
        "org_id": "org1",
        "principal_id": f"p{i % 3}",
        "credential_id": f"k{i % 2}",
        "model": "gpt-4o",
        "status": 200,
        "input_tokens": 10 + i,
        "output_tokens": 5,
    }
    fields.update(kw)
    return AuditEntry(**fields)


def entry_at(seq: int, **kw: Any) -> AuditEntry:
    """The entry ``fill`` puts at ``seq``, with changes."""
    return entry(seq - 1, **kw)


def fill(db: Database, n: int, signer: Signer | None, every: int = 10, batch: int = 7) -> None:
    """n entries appended in batches; a checkpoint every ``every`` entries."""
    for start in range(0, n, batch):
        es = [entry(i) for i in range(start, min(n, start + batch))]
        db.run_sync(append, es, signer, every, 1e12)


def exec_sql(db: Database, sql: str, params: tuple[Any, ...] = ()) -> None:
    db.run_sync(lambda c: c.execute(sql, params))


def rows(db: Database) -> list[tuple[Any, ...]]:
    return db.run_sync(lambda c: c.all("SELECT seq, ts, kind, entry, prev_hash, hash FROM audit_log ORDER BY seq"))


def request_ids(db: Database) -> list[str]:
    import msgspec

    return [msgspec.json.decode(r[3])["request_id"] for r in rows(db)]


def rewrite_from(db: Database, seq: int, new_entry_json: str, *, move_head: bool = True) -> None:
    """Replace entry ``seq`` and recompute every later hash: a consistent rewrite, as an
    attacker who knows the framing (but not the signing key) would do it."""

    def go(c: Conn) -> None:
        all_rows = c.all("SELECT seq, ts, kind, entry, prev_hash FROM audit_log WHERE seq >= ? ORDER BY seq", (seq,))
        prev = all_rows[0][4]
        for s, ts, kind, text, _ in all_rows:
            if s == seq:
                text = new_entry_json
            h = chain.link(prev, s, ts, kind, text)
            c.execute("UPDATE audit_log SET entry = ?, prev_hash = ?, hash = ? WHERE seq = ?", (text, prev, h, s))
            prev = h
        if move_head:
            c.execute("UPDATE audit_head SET hash = ? WHERE id = 1", (prev,))

    db.run_sync(go)
