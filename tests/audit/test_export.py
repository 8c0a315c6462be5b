from __future__ import annotations

import io
from pathlib import Path

import msgspec

from switchgear.audit import chain
from switchgear.audit.export import JsonlSink, export_jsonl, record_line
from switchgear.audit.store import seal_and_append
from switchgear.store.database import Database
from tests.audit.helpers import entry, exec_sql, fill


def test_export_streams_every_entry_with_its_chain_fields(store_url: str) -> None:
    db = Database(store_url)
    try:
        fill(db, 23, None)
        out = io.BytesIO()
        assert export_jsonl(db, out, page_size=5) == 23
        lines = out.getvalue().splitlines()
        objs = [msgspec.json.decode(line) for line in lines]
        assert [o["seq"] for o in objs] == list(range(1, 24))
        assert objs[0]["prev_hash"] == chain.GENESIS and objs[1]["prev_hash"] == objs[0]["hash"]
        assert objs[4]["request_id"] == "r4" and objs[4]["model"] == "gpt-4o" and "agent_id" not in objs[4]
        assert list(objs[0])[:3] == ["seq", "hash", "prev_hash"]
    finally:
        db.close_sync()


def test_export_filters_by_time_and_is_reverifiable(store_url: str) -> None:
    db = Database(store_url)
    try:
        fill(db, 20, None)
        t0 = entry(0).ts
        out = io.BytesIO()
        assert export_jsonl(db, out, since=t0 + 1.0, until=t0 + 2.0, with_entry_json=True) == 4
        objs = [msgspec.json.decode(line) for line in out.getvalue().splitlines()]
        assert [o["request_id"] for o in objs] == ["r4", "r5", "r6", "r7"]
        for o in objs:  # a third party can recompute each hash from the export alone
            assert chain.link(o["prev_hash"], o["seq"], o["ts"], o["kind"], o["entry"]) == o["hash"]
    finally:
        db.close_sync()


def test_export_does_not_hide_a_mangled_entry(store_url: str) -> None:
    db = Database(store_url)
    try:
        fill(db, 2, None)
        exec_sql(db, "UPDATE audit_log SET entry = 'oops' WHERE seq = 2")
        out = io.BytesIO()
        export_jsonl(db, out)
        assert msgspec.json.decode(out.getvalue().splitlines()[1])["entry_invalid"] == "oops"
    finally:
        db.close_sync()


def test_sink_lines_match_the_export(store_url: str, tmp_path: Path) -> None:
    db = Database(store_url)
    sink = JsonlSink(str(tmp_path / "logs" / "audit.jsonl"))
    try:
        for start in (0, 3):
            sealed = db.run_sync(seal_and_append, [entry(i) for i in range(start, start + 3)], None, 0, 1e12)
            sink.write(sealed)
        sink.close()
        out = io.BytesIO()
        export_jsonl(db, out)
        assert (tmp_path / "logs" / "audit.jsonl").read_bytes() == out.getvalue()
    finally:
        db.close_sync()


def test_record_line_is_one_line_of_json() -> None:
    line = record_line(3, "a" * 64, "b" * 64, chain.canonical(entry(1, details={"x": "line\nbreak"})))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert msgspec.json.decode(line)["details"] == {"x": "line\nbreak"}
