"""The audit record as JSONL: `switchgear audit export`, and the optional live file sink.

One JSON object per line, in seq order::

    {"seq":17,"hash":"…","prev_hash":"…","action":"chat","decision":"allow","kind":"request","ts":…,…}

``seq``, ``hash`` and ``prev_hash`` first, then the entry's own fields (sorted, None
omitted). With ``with_entry_json`` each line also carries ``"entry"``: the exact text
the hash covers, so a third party can re-verify the chain from the export alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO, Any

import msgspec

from switchgear.audit.store import SealedRow, call
from switchgear.store.database import Conn, Database

PAGE_SIZE = 5000


def record_line(seq: int, hash_: str, prev_hash: str, entry_json: str, with_entry_json: bool = False) -> bytes:
    """One export line (with its newline)."""
    head = f'{{"seq":{seq},"hash":"{hash_}","prev_hash":"{prev_hash}"'
    if with_entry_json:
        head += ',"entry":' + msgspec.json.encode(entry_json).decode()
    body = entry_json.strip()
    if len(body) > 2 and body[0] == "{" and body[-1] == "}":
        # The stored text is already canonical JSON: splice it in rather than re-encode.
        return f"{head},{body[1:]}\n".encode()
    # Not an object (tampered): still export it, as a string, so nothing is hidden.
    return f'{head},"entry_invalid":{msgspec.json.encode(entry_json).decode()}}}\n'.encode()


def _page(conn: Conn, after: int, since: float | None, until: float | None, limit: int) -> list[tuple[Any, ...]]:
    where = ["seq > ?"]
    params: list[Any] = [after]
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if until is not None:
        where.append("ts < ?")
        params.append(until)
    params.append(limit)
    return conn.all(
        f"SELECT seq, hash, prev_hash, entry FROM audit_log WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
        params,
    )


def export_jsonl(
    db_or_conn: Database | Conn,
    out: IO[bytes],
    since: float | None = None,
    until: float | None = None,
    *,
    with_entry_json: bool = False,
    page_size: int = PAGE_SIZE,
) -> int:
    """Write entries with ``since <= ts < until`` to ``out`` (binary), streaming page by
    page; returns how many were written. Blocking: call it off the event loop."""
    written = 0
    after = 0
    while True:
        rows = call(db_or_conn, _page, after, since, until, page_size)
        if not rows:
            return written
        out.write(b"".join(record_line(int(s), h, p, e, with_entry_json) for s, h, p, e in rows))
        written += len(rows)
        after = int(rows[-1][0])


class JsonlSink:
    """Appends every flushed batch to a JSONL file (AuditConfig.jsonl_file), after the
    database commit: the file is a copy for shipping elsewhere, never the record itself,
    so its failures are counted by the writer and never undo or block a store write.

    One write per batch in append mode. Give each gateway process its own file: lines
    of processes sharing one file interleave by batch (each line stays whole on a local
    file system), and each process's file has gaps where the others' entries went.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def write(self, rows: Sequence[SealedRow]) -> None:
        """Blocking; raises OSError (the file is reopened on the next batch)."""
        data = b"".join(record_line(r.seq, r.hash, r.prev_hash, r.entry_json) for r in rows)
        try:
            if self._file is None:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
                self._file = open(self.path, "ab")  # noqa: SIM115 - kept open across batches
            self._file.write(data)
            self._file.flush()
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass
