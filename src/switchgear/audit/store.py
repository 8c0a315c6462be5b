"""Audit repository functions over a store ``Conn`` (run them with ``Database.run``).

Appending is one transaction that locks the single ``audit_head`` row first, so any
number of gateway processes sharing one database extend one chain, in one order: the
second appender waits for the first to commit and then reads the head it left. (SQLite
needs no row lock: ``Database`` begins every transaction IMMEDIATE, which already holds
the database's write lock.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import msgspec

from switchgear.audit import chain
from switchgear.audit.entry import AuditEntry
from switchgear.audit.signing import Signer
from switchgear.store.database import Conn, Database, StoreError

T = TypeVar("T")

COLUMNS = "seq, ts, kind, org_id, principal_id, agent_id, credential_id, action, decision, entry, prev_hash, hash"
_INSERT = f"INSERT INTO audit_log ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_CHECKPOINT = "INSERT INTO audit_checkpoints (seq, hash, ts, key_id, signature) VALUES (?, ?, ?, ?, ?)"


class SealedRow(msgspec.Struct, frozen=True, gc=False):
    """One entry as appended: its place in the chain and the exact JSON its hash covers."""

    seq: int
    hash: str
    prev_hash: str
    entry_json: str


class AuditRecord(msgspec.Struct, frozen=True):
    """An entry read back, with its place in the chain."""

    seq: int
    hash: str
    prev_hash: str
    entry: AuditEntry


def call(db_or_conn: Database | Conn, fn: Callable[..., T], *args: Any) -> T:
    """Run a read on an open Conn, or in its own short transaction on a Database (blocking)."""
    if isinstance(db_or_conn, Conn):
        return fn(db_or_conn, *args)
    return db_or_conn.run_sync(fn, *args)


# ---- appending ------------------------------------------------------------------------


def append(
    conn: Conn,
    entries: Sequence[AuditEntry],
    signer: Signer | None,
    checkpoint_every: int,
    checkpoint_interval_s: float,
    now: float | None = None,
) -> int:
    """Append ``entries`` in order; returns the chain's head seq afterwards."""
    sealed = seal_and_append(conn, entries, signer, checkpoint_every, checkpoint_interval_s, now)
    if sealed:
        return sealed[-1].seq
    row = conn.one("SELECT seq FROM audit_head WHERE id = 1")
    return int(row[0]) if row else 0


def seal_and_append(
    conn: Conn,
    entries: Sequence[AuditEntry],
    signer: Signer | None,
    checkpoint_every: int,
    checkpoint_interval_s: float,
    now: float | None = None,
) -> list[SealedRow]:
    """Append ``entries`` (one transaction: the caller's) and return what was written.

    A signed checkpoint is written at the entry where ``checkpoint_every`` entries have
    passed since the last one, and at the end of the batch when ``checkpoint_interval_s``
    seconds have (``now`` defaults to the clock; tests pass it).
    """
    if not entries:
        return []
    seq, prev = _lock_head(conn)
    now = time.time() if now is None else now
    cp_seq, cp_ts = _last_checkpoint(conn, now) if signer is not None else (0, now)
    rows: list[tuple[Any, ...]] = []
    sealed: list[SealedRow] = []
    checkpoints: list[tuple[Any, ...]] = []
    for raw_entry in entries:
        e, js = chain.prepare(raw_entry)
        seq += 1
        h = chain.link(prev, seq, e.ts, e.kind, js)
        rows.append((
            seq, e.ts, e.kind, e.org_id, e.principal_id, e.agent_id, e.credential_id,
            e.action, e.decision, js, prev, h,
        ))
        sealed.append(SealedRow(seq, h, prev, js))
        prev = h
        if signer is not None and checkpoint_every > 0 and seq - cp_seq >= checkpoint_every:
            checkpoints.append((seq, h, now, signer.key_id, signer.sign(seq, h, now)))
            cp_seq, cp_ts = seq, now
    if signer is not None and seq > cp_seq and now - cp_ts >= checkpoint_interval_s:
        checkpoints.append((seq, prev, now, signer.key_id, signer.sign(seq, prev, now)))
    conn.executemany(_INSERT, rows)
    conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
    if checkpoints:
        conn.executemany(_INSERT_CHECKPOINT, checkpoints)
    return sealed


def checkpoint_if_due(conn: Conn, signer: Signer, checkpoint_interval_s: float, now: float | None = None) -> int | None:
    """Sign the head if entries arrived since the last checkpoint and the interval has
    passed: so that when traffic stops, the unsigned tail is still bounded in time.
    Returns the checkpoint's seq, or None when none was due."""
    now = time.time() if now is None else now
    seq, head_hash = _lock_head(conn)
    cp_seq, cp_ts = _last_checkpoint(conn, now)
    if seq <= cp_seq or now - cp_ts < checkpoint_interval_s:
        return None
    conn.execute(_INSERT_CHECKPOINT, (seq, head_hash, now, signer.key_id, signer.sign(seq, head_hash, now)))
    return seq


def _lock_head(conn: Conn) -> tuple[int, str]:
    row = conn.one("SELECT seq, hash FROM audit_head WHERE id = 1" + conn.lock_clause())
    if row is None:
        raise StoreError("the audit_head row is missing: the audit migration did not run (switchgear db upgrade)")
    return int(row[0]), str(row[1])


def _last_checkpoint(conn: Conn, now: float) -> tuple[int, float]:
    row = conn.one("SELECT seq, ts FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
    if row is not None:
        return int(row[0]), float(row[1])
    # No checkpoint yet: the interval runs from the first entry (or from now, if none).
    first = conn.one("SELECT ts FROM audit_log WHERE seq = 1")
    return 0, float(first[0]) if first is not None else now


# ---- reading --------------------------------------------------------------------------

_RECORD_DECODER = msgspec.json.Decoder(AuditEntry)
_FILTER_COLUMNS = ("principal_id", "credential_id", "agent_id", "action", "decision", "org_id")


class UndecodableEntry(StoreError):
    """A stored entry is not valid entry JSON: the record was tampered with (run verify)."""


def query(
    conn: Conn,
    since: float | None = None,
    until: float | None = None,
    principal_id: str | None = None,
    credential_id: str | None = None,
    agent_id: str | None = None,
    action: str | None = None,
    decision: str | None = None,
    limit: int = 100,
    after_seq: int = 0,
    org_id: str | None = None,
) -> list[AuditRecord]:
    """Entries matching every given filter, oldest first, at most ``limit`` of them with
    seq > ``after_seq``: pass the last seq of a page to get the next. ``since`` is
    inclusive, ``until`` exclusive (unix seconds)."""
    where, params = _time_filter(since, until)
    where.append("seq > ?")
    params.append(after_seq)
    values = (principal_id, credential_id, agent_id, action, decision, org_id)
    for column, value in zip(_FILTER_COLUMNS, values, strict=True):
        if value is not None:
            where.append(f"{column} = ?")  # column names come from the fixed tuple above
            params.append(value)
    params.append(max(0, limit))
    rows = conn.all(
        f"SELECT seq, hash, prev_hash, entry FROM audit_log WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
        params,
    )
    return [AuditRecord(int(s), h, p, _decode_entry(int(s), e)) for s, h, p, e in rows]


def _decode_entry(seq: int, text: str) -> AuditEntry:
    try:
        return _RECORD_DECODER.decode(text)
    except msgspec.DecodeError:
        raise UndecodableEntry(f"audit entry {seq} is not valid entry JSON: run `switchgear audit verify`") from None


def _time_filter(since: float | None, until: float | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if until is not None:
        where.append("ts < ?")
        params.append(until)
    return where, params


def iter_pages(
    fetch: Callable[[int], list[tuple[Any, ...]]], after_seq: int = 0,
) -> Iterator[list[tuple[Any, ...]]]:
    """Pages from ``fetch(after_seq) -> rows`` (seq first in each row) until one is empty."""
    while True:
        rows = fetch(after_seq)
        if not rows:
            return
        yield rows
        after_seq = int(rows[-1][0])


# ---- the access review's view ---------------------------------------------------------


class UsageSummary(msgspec.Struct):
    """What one credential (or agent) actually did in a period."""

    id: str
    count: int = 0  # allowed requests
    denied: int = 0
    models: list[str] = []  # models requested in allowed requests, sorted
    endpoints: list[str] = []  # endpoints of allowed requests, sorted
    last_ts: float | None = None  # the latest request, allowed or not


class UsageReport(msgspec.Struct):
    since: float | None
    until: float | None
    by_credential: dict[str, UsageSummary]
    by_agent: dict[str, UsageSummary]


class _ModelOnly(msgspec.Struct):
    model: str | None = None


_MODEL_DECODER = msgspec.json.Decoder(_ModelOnly)


def usage(conn: Conn, since: float | None = None, until: float | None = None, page_size: int = 5000) -> UsageReport:
    """Request entries in [since, until) grouped by credential and by agent."""
    where, params = _time_filter(since, until)
    where += ["kind = 'request'", "seq > ?"]
    sql = (
        "SELECT seq, ts, credential_id, agent_id, action, decision, entry FROM audit_log"
        f" WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
    )
    by_cred: dict[str, _Acc] = {}
    by_agent: dict[str, _Acc] = {}
    for page in iter_pages(lambda after: conn.all(sql, [*params, after, page_size])):
        for _, ts, cred, agent, action, decision, text in page:
            model: str | None = None
            if decision == "allow":
                try:
                    model = _MODEL_DECODER.decode(text).model
                except msgspec.DecodeError:
                    model = None  # tampered; verify reports it, the review still counts it
            for key, table in ((cred, by_cred), (agent, by_agent)):
                if key is not None:
                    acc = table.get(key)
                    if acc is None:
                        acc = table[key] = _Acc()
                    acc.add(float(ts), action, decision, model)
    return UsageReport(
        since, until,
        {k: a.summary(k) for k, a in by_cred.items()},
        {k: a.summary(k) for k, a in by_agent.items()},
    )


class _Acc:
    __slots__ = ("count", "denied", "endpoints", "last_ts", "models")

    def __init__(self) -> None:
        self.count = 0
        self.denied = 0
        self.models: set[str] = set()
        self.endpoints: set[str] = set()
        self.last_ts: float | None = None

    def add(self, ts: float, action: str, decision: str, model: str | None) -> None:
        if decision == "allow":
            self.count += 1
            self.endpoints.add(action)
            if model is not None:
                self.models.add(model)
        else:
            self.denied += 1
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def summary(self, key: str) -> UsageSummary:
        return UsageSummary(key, self.count, self.denied, sorted(self.models), sorted(self.endpoints), self.last_ts)


class LastSeen(msgspec.Struct):
    """When each credential and agent last appeared in the record (any entry kind)."""

    credentials: dict[str, float]
    agents: dict[str, float]


def last_seen(conn: Conn) -> LastSeen:
    creds = conn.all("SELECT credential_id, MAX(ts) FROM audit_log WHERE credential_id IS NOT NULL GROUP BY credential_id")
    agents = conn.all("SELECT agent_id, MAX(ts) FROM audit_log WHERE agent_id IS NOT NULL GROUP BY agent_id")
    return LastSeen({k: float(v) for k, v in creds}, {k: float(v) for k, v in agents})
