"""`switchgear audit verify`: walk the whole chain and name every entry that was tampered with.

Each entry's hash seals its own content, its seq and the previous entry's hash
(chain.link). Walking the log in seq order, page by page, verify recomputes every hash
and follows every link. For each row it also works out the seq the entry was *sealed
at* (its "original seq", which may differ from the seq column if rows were renumbered),
which is what lets it tell the cases apart:

  modified     the content (or ts/kind) no longer matches the row's hash
  rehashed     an entry was changed and its hash recomputed: the next entry's
               prev_hash still names the old hash
  missing      an original seq never appears: the entry was deleted (between M and P)
  inserted     a row that is not part of the chain: two rows claim one position and the
               next entry links to the other one, or a row lies beyond the head
  moved        a row sits at another seq than it was sealed at (renumbered, or two
               entries swapped, which is reported as such)
  index        an indexed column (org_id, principal_id, agent_id, credential_id, action,
               decision, ts, kind) disagrees with the entry JSON; those columns are not
               hashed, so this is the only check that guards them
  head         the audit_head row disagrees with the last entry
  checkpoint   a signed checkpoint no longer matches the chain at its seq (the chain was
               rewritten consistently after a change somewhere in the range it covers),
               names an entry that is gone, has a bad signature, or a key we were not given

What cannot be detected, and what bounds it:
  - Someone who can write the database and knows the framing can rewrite, delete or
    append entries *after the last signed checkpoint* and recompute the chain and the
    head: nothing signed covers them. That window is at most ``checkpoint_every``
    entries or ``checkpoint_interval_s`` seconds (the writer signs the head on that
    interval even when idle); the report gives the last verified checkpoint's seq.
  - Truncating the tail after the last checkpoint (and moving the head back) is the same
    case. Truncating past a checkpoint is detected (the checkpoint names a missing entry).
  - Deleting checkpoint rows is not detectable from the database alone: it only widens
    the unsigned window. Keep a copy of recent checkpoints (or the export) elsewhere.
  - Without ``public_keys`` checkpoints are still compared with the chain, but anyone could
    have written them: the report says signatures were not checked.

Memory stays bounded: rows are read in pages and only a window of recent positions is
kept (reordering further apart than the window is reported as missing + modified/moved).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from switchgear.audit import chain
from switchgear.audit.entry import INDEX_FIELDS, AuditEntry
from switchgear.audit.report import (
    ANY_SEQ,
    Problem,
    ProblemLog,
    VerifyReport,
    main_report_text,
)
from switchgear.audit.signing import key_id_of, verify_signature
from switchgear.audit.store import COLUMNS, call
from switchgear.store.database import Conn, Database

T = TypeVar("T")

__all__ = ["Problem", "VerifyReport", "main_report_text", "verify"]

PAGE_SIZE = 5000
WINDOW = 4096  # recent positions kept for reorder/duplicate detection
_SEARCH_SPAN = 32  # how far from its seq column a renumbered entry's original seq is sought
_SEARCH_BUDGET = 10_000  # rows we search for at all (a mass modification stays linear)


# ---- reading the store ----------------------------------------------------------------


def _entries_page(conn: Conn, after: int, upto: int | None, limit: int) -> list[tuple[Any, ...]]:
    if upto is None:
        return conn.all(f"SELECT {COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
    return conn.all(
        f"SELECT {COLUMNS} FROM audit_log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?", (after, upto, limit),
    )


def _checkpoints_page(conn: Conn, after: int, limit: int) -> list[tuple[Any, ...]]:
    return conn.all(
        "SELECT seq, hash, ts, key_id, signature FROM audit_checkpoints WHERE seq > ? ORDER BY seq LIMIT ?",
        (after, limit),
    )


def _hash_at(conn: Conn, seq: int) -> tuple[Any, ...] | None:
    return conn.one("SELECT hash FROM audit_log WHERE seq = ?", (seq,))


def _tail(conn: Conn) -> tuple[Any, ...] | None:
    # One statement, so one snapshot even on PostgreSQL under concurrent appends: the
    # head, the row it names, the last row and the last checkpoint agree unless tampered.
    return conn.one(
        "SELECT h.seq, h.hash, (SELECT hash FROM audit_log WHERE seq = h.seq),"
        " (SELECT MAX(seq) FROM audit_log), (SELECT MAX(seq) FROM audit_checkpoints)"
        " FROM audit_head h WHERE h.id = 1"
    )


class _Source:
    """Reads from a Database (one short transaction per page) or an open Conn."""

    def __init__(self, db_or_conn: Database | Conn) -> None:
        self._target = db_or_conn

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        return call(self._target, fn, *args)


# ---- the walk -------------------------------------------------------------------------


class _Seal:
    __slots__ = ("hash", "oseq", "prev_hash", "s", "sealed")

    def __init__(self, s: int, oseq: int, hash_: str, prev_hash: str, sealed: bool) -> None:
        self.s = s  # the seq column
        self.oseq = oseq  # the seq it was sealed at (a guess when not sealed)
        self.hash = hash_
        self.prev_hash = prev_hash
        self.sealed = sealed  # its hash matches its content at oseq


class _Checkpoint:
    __slots__ = ("good_sig", "hash", "mismatch", "prev_seq", "seq")

    def __init__(self, seq: int, hash_: str, prev_seq: int, good_sig: bool) -> None:
        self.seq = seq
        self.hash = hash_
        self.prev_seq = prev_seq  # the previous checkpoint's seq: this one covers (prev_seq, seq]
        self.good_sig = good_sig
        self.mismatch = False


_ENTRY_DECODER = msgspec.json.Decoder(AuditEntry)


class _Walker:
    def __init__(self, source: _Source, keys: dict[str, Ed25519PublicKey] | None, page_size: int) -> None:
        self.src = source
        self.keys = keys
        self.page_size = page_size
        self.problems = ProblemLog()
        self.checked = 0
        genesis = _Seal(0, 0, chain.GENESIS, "", True)
        self.by_oseq: dict[int, list[_Seal]] = {0: [genesis]}
        self.by_hash: dict[str, _Seal] = {chain.GENESIS: genesis}
        self.recent: deque[_Seal] = deque([genesis])
        self.prev = genesis
        self.max_oseq = 0
        self.offset = 0
        self.search_budget = _SEARCH_BUDGET
        self.dups: set[int] = set()
        self.missing: list[list[int]] = []  # [first oseq, last oseq, stored seq before, stored seq after]
        self.waiting: dict[int, list[tuple[int, str]]] = {}  # oseq -> [(stored seq, prev_hash it sealed)]
        # checkpoints, read lazily in step with the walk
        self.cp_iter = self._checkpoints()
        self.cp_next: tuple[Any, ...] | None = next(self.cp_iter, None)
        self.cp_pending: dict[int, _Checkpoint] = {}
        self.cp_prev_seq = 0
        self.cp_total = 0
        self.cp_verified = 0
        self.cp_last_verified: int | None = None
        self.last_s = 0

    # -- checkpoints --

    def _checkpoints(self) -> Iterator[tuple[Any, ...]]:
        after = 0
        while True:
            page = self.src.call(_checkpoints_page, after, self.page_size)
            if not page:
                return
            yield from page
            after = int(page[-1][0])

    def _load_checkpoints(self, upto: int) -> None:
        while self.cp_next is not None and int(self.cp_next[0]) <= upto:
            seq, hash_, ts, key_id, signature = self.cp_next
            seq, ts = int(seq), float(ts)
            self.cp_total += 1
            good = True
            if self.keys is not None:
                key = self.keys.get(key_id)
                if key is None:
                    good = False
                    self.problems.add(
                        "checkpoint_unknown_key", seq,
                        f"checkpoint at seq {seq} is signed by key {key_id}, which is not among the given public keys",
                        key=key_id, follows=ANY_SEQ,
                    )
                elif not verify_signature(key, seq, hash_, ts, signature):
                    good = False
                    self.problems.add(
                        "checkpoint_signature", seq,
                        f"checkpoint at seq {seq}: its signature is invalid (forged, or its seq/hash/ts were changed)",
                        follows=ANY_SEQ,
                    )
            cp = _Checkpoint(seq, hash_, self.cp_prev_seq, good)
            self.cp_prev_seq = seq
            self.cp_next = next(self.cp_iter, None)
            self.cp_pending[seq] = cp
            if seq <= self.max_oseq:
                # Written after we walked past its seq (a running gateway): judge it now.
                seals = self.by_oseq.get(seq)
                if seals is None:
                    row = self.src.call(_hash_at, seq)
                    seals = [] if row is None else [_Seal(seq, seq, row[0], "", True)]
                for seal in seals:
                    self._check_checkpoint(seal)

    def _check_checkpoint(self, seal: _Seal) -> None:
        cp = self.cp_pending.get(seal.oseq)
        if cp is None:
            return
        if seal.sealed and seal.hash == cp.hash:
            del self.cp_pending[seal.oseq]
            if cp.good_sig:
                self.cp_verified += 1
                self.cp_last_verified = max(cp.seq, self.cp_last_verified or 0)
        else:
            cp.mismatch = True  # a duplicate at this position may still match

    def _finish_checkpoint(self, cp: _Checkpoint, chain_end: int) -> None:
        if cp.seq > chain_end:
            self.problems.add(
                "checkpoint_beyond_end", cp.seq,
                f"checkpoint at seq {cp.seq} but the chain ends at seq {chain_end}: entries "
                f"{chain_end + 1}–{cp.seq} were deleted (the log was truncated)",
            )
        elif cp.mismatch:
            self.problems.add(
                "checkpoint_mismatch", cp.seq,
                f"checkpoint at seq {cp.seq} does not match the chain: an entry in seq "
                f"{cp.prev_seq + 1}–{cp.seq} was changed and the chain re-hashed after it",
                follows=cp.prev_seq, extra=cp.prev_seq + 1,
            )
        else:
            self.problems.add(
                "checkpoint_missing_entry", cp.seq,
                f"checkpoint at seq {cp.seq} names an entry that is not in the chain (deleted)",
            )

    # -- entries --

    def walk(self, upto: int | None = None) -> None:
        after = self.last_s
        while True:
            page = self.src.call(_entries_page, after, upto, self.page_size)
            for row in page:
                self._row(row)
            if len(page) < self.page_size:
                return
            after = int(page[-1][0])
            self._evict()

    def _row(self, row: tuple[Any, ...]) -> None:
        s, ts, kind, org_id, principal_id, agent_id, credential_id, action, decision, text, prev_hash, hash_ = row
        s, ts = int(s), float(ts)
        self.checked += 1
        self.last_s = s
        oseq = self._sealed_at(s, ts, kind, text, prev_hash, hash_)
        sealed = oseq is not None
        if oseq is None:
            self.problems.add("modified", s, f"entry {s} was modified: its content does not match its hash")
            oseq = s + self.offset  # assume it holds its place, so its neighbours still check
        else:
            self.offset = oseq - s
            if oseq != s:
                self.problems.add(
                    "moved", s, f"entry {s} was moved: it was sealed as seq {oseq}", key=oseq - s,
                )
        self._check_index(s, ts, kind, (org_id, principal_id, agent_id, credential_id, action, decision), text)
        seal = _Seal(s, oseq, hash_, prev_hash, sealed)
        if sealed:
            self._check_predecessor(seal)
        if oseq in self.by_oseq:
            self.dups.add(oseq)
        self._register(seal)

    def _sealed_at(self, s: int, ts: float, kind: str, text: str, prev_hash: str, hash_: str) -> int | None:
        candidates = [s, s + self.offset, self.prev.oseq + 1]
        pred = self.by_hash.get(prev_hash)
        if pred is not None:
            candidates.append(pred.oseq + 1)
        tried: set[int] = set()
        for c in candidates:
            if c > 0 and c not in tried:
                tried.add(c)
                if chain.link(prev_hash, c, ts, kind, text) == hash_:
                    return c
        if self.search_budget <= 0:
            return None
        self.search_budget -= 1
        for d in range(1, _SEARCH_SPAN + 1):
            for c in (s + d, s - d):
                if c > 0 and c not in tried and chain.link(prev_hash, c, ts, kind, text) == hash_:
                    return c
        return None

    def _check_predecessor(self, seal: _Seal) -> None:
        want = seal.oseq - 1
        preds = self.by_oseq.get(want)
        if preds is None:
            if want > self.max_oseq:
                # Positions max_oseq+1 … want have not been seen: missing, unless they turn up later.
                self.missing.append([self.max_oseq + 1, want, self.prev.s, seal.s])
            self.waiting.setdefault(want, []).append((seal.s, seal.prev_hash))
            return
        match = next((p for p in preds if p.hash == seal.prev_hash), None)
        if match is None:
            for p in preds:
                if p.sealed:
                    self.problems.add(
                        "rehashed", p.s,
                        f"entry {p.s} was modified and its hash recomputed: entry {seal.s} was sealed "
                        "after a different version of it",
                    )
            self.dups.discard(want)
            return
        if want in self.dups:
            self.dups.discard(want)
            for p in preds:
                if p is not match:
                    self.problems.add(
                        "inserted", p.s,
                        f"entry {p.s} was inserted: it is not part of the chain (entry {seal.s} links to entry {match.s})",
                    )

    def _register(self, seal: _Seal) -> None:
        self._load_checkpoints(max(self.max_oseq, seal.oseq))
        self.by_oseq.setdefault(seal.oseq, []).append(seal)
        self.by_hash[seal.hash] = seal
        self.recent.append(seal)
        if seal.oseq <= self.max_oseq and self.missing:
            self._seen(seal.oseq)
        for s, prev_hash in self.waiting.pop(seal.oseq, ()):
            if prev_hash != seal.hash and seal.sealed:
                self.problems.add(
                    "rehashed", seal.s,
                    f"entry {seal.s} was modified and its hash recomputed: entry {s} was sealed after a different version of it",
                )
        self._check_checkpoint(seal)
        self.max_oseq = max(self.max_oseq, seal.oseq)
        self.prev = seal

    def _seen(self, oseq: int) -> None:
        for i, (first, last, before, after) in enumerate(self.missing):
            if first <= oseq <= last:
                parts = [[first, oseq - 1, before, after], [oseq + 1, last, before, after]]
                self.missing[i:i + 1] = [p for p in parts if p[0] <= p[1]]
                return

    def _check_index(self, s: int, ts: float, kind: str, columns: tuple[Any, ...], text: str) -> None:
        try:
            e = _ENTRY_DECODER.decode(text)
        except msgspec.DecodeError as err:
            self.problems.add("index", s, f"entry {s} is not valid entry JSON ({err})")
            return
        want = (e.org_id, e.principal_id, e.agent_id, e.credential_id, e.action, e.decision)
        if columns != want or float(e.ts) != ts or e.kind != kind:
            names = [n for n, a, b in zip(_INDEX_NAMES, (*columns, ts, kind), (*want, float(e.ts), e.kind), strict=True) if a != b]
            self.problems.add("index", s, f"entry {s}: column {', '.join(names)} disagrees with the entry JSON")

    # -- housekeeping --

    def _evict(self, final: bool = False, chain_end: int = 0) -> None:
        floor = self.max_oseq - WINDOW if not final else 1 << 62
        while len(self.recent) > WINDOW or (final and self.recent):
            old = self.recent.popleft()
            lst = self.by_oseq.get(old.oseq)
            if lst is not None and old in lst:
                if old.oseq in self.dups and len(lst) > 1:
                    self.dups.discard(old.oseq)
                    others = ", ".join(str(p.s) for p in lst)
                    self.problems.add(
                        "inserted", lst[-1].s,
                        f"entries {others} all claim position {old.oseq} in the chain: all but one were inserted",
                    )
                lst.remove(old)
                if not lst:
                    del self.by_oseq[old.oseq]
            if self.by_hash.get(old.hash) is old:
                del self.by_hash[old.hash]
        for m in [m for m in self.missing if m[1] < floor]:
            self.missing.remove(m)
            first, last, before, after = m
            what = f"entry {first} is" if first == last else f"entries {first}–{last} are"
            self.problems.add("missing", first, f"{what} missing (deleted between seq {before} and seq {after})")
        for k in [k for k in self.waiting if k < floor]:
            del self.waiting[k]
        for seq in sorted(k for k in self.cp_pending if k < floor):
            self._finish_checkpoint(self.cp_pending.pop(seq), chain_end if final else self.max_oseq)

    def finish(self, tail: tuple[Any, ...] | None) -> VerifyReport:
        head_seq: int | None = None
        cp_bound: int | None = None
        if tail is None:
            self.problems.add("head", None, "the audit_head row is missing")
        else:
            head_seq, head_hash, hash_at_head, max_seq, cp_bound = tail
            head_seq = int(head_seq)
            self._check_head(head_seq, head_hash, hash_at_head, None if max_seq is None else int(max_seq))
            self._resolve_duplicates_by_head(head_hash)
        chain_end = self.max_oseq
        # Checkpoints up to the snapshot's last one are judged; later ones were written
        # after it (by a gateway still running) and belong to the next verification.
        self._load_checkpoints(int(cp_bound) if cp_bound is not None else 0)
        self._evict(final=True, chain_end=chain_end)
        for seq in sorted(self.cp_pending):
            self._finish_checkpoint(self.cp_pending.pop(seq), chain_end)
        # In chain order (checkpoint problems were found as their pages were read).
        problems = sorted(self.problems.items, key=lambda p: -1 if p.seq is None else p.seq)
        return VerifyReport(
            ok=not problems and self.problems.omitted == 0,
            entries_checked=self.checked,
            head_seq=head_seq,
            checkpoints_total=self.cp_total,
            checkpoints_verified=self.cp_verified,
            last_checkpoint_seq=self.cp_last_verified,
            signatures_checked=self.keys is not None,
            problems=problems,
            problems_omitted=self.problems.omitted,
        )

    def _resolve_duplicates_by_head(self, head_hash: str) -> None:
        # Two rows claim the last position: the head names the genuine one.
        for oseq in sorted(self.dups):
            seals = self.by_oseq.get(oseq, [])
            match = next((p for p in seals if p.hash == head_hash), None)
            if match is not None:
                self.dups.discard(oseq)
                for p in seals:
                    if p is not match:
                        self.problems.add(
                            "inserted", p.s, f"entry {p.s} was inserted: it is not part of the chain (the head names entry {match.s})",
                        )

    def _check_head(self, head_seq: int, head_hash: str, hash_at_head: str | None, max_seq: int | None) -> None:
        last = max_seq or 0
        if last > head_seq:
            what = f"entry {last} lies" if last == head_seq + 1 else f"entries {head_seq + 1}–{last} lie"
            self.problems.add(
                "inserted", head_seq + 1,
                f"{what} beyond the chain's head (seq {head_seq}): written without the writer (inserted), or the head was rolled back",
            )
        elif last < head_seq:
            self.problems.add(
                "head", head_seq,
                f"the head is at seq {head_seq} but the log ends at seq {last}: entries {last + 1}–{head_seq} were deleted",
            )
        elif head_seq == 0:
            if head_hash != chain.GENESIS:
                self.problems.add("head", 0, "the log is empty but the head's hash is not the genesis hash")
        elif hash_at_head != head_hash:
            self.problems.add(
                "head", head_seq, f"the head's hash differs from entry {head_seq}'s hash (the head or the entry was changed)",
            )


_INDEX_NAMES = (*INDEX_FIELDS, "ts", "kind")


def verify(
    db_or_conn: Database | Conn,
    public_keys: list[Ed25519PublicKey] | None = None,
    *,
    page_size: int = PAGE_SIZE,
) -> VerifyReport:
    """Walk the whole chain and its checkpoints; blocking (call it off the event loop).

    With a Database each page is its own short transaction, so a running gateway keeps
    appending meanwhile; entries appended after the walk reached the end are left for
    the next run. ``public_keys=None`` compares checkpoints with the chain but does not
    check their signatures (the report says so).
    """
    keys = None if public_keys is None else {key_id_of(k): k for k in public_keys}
    source = _Source(db_or_conn)
    walker = _Walker(source, keys, page_size)
    walker.walk()
    tail = source.call(_tail)
    if tail is not None and tail[3] is not None and int(tail[3]) > walker.last_s:
        walker.walk(upto=int(tail[3]))  # rows committed while we walked: include them
    return walker.finish(tail)
