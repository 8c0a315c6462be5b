from __future__ import annotations

import hashlib
import struct

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from switchgear.audit import chain
from switchgear.audit.entry import AuditEntry
from tests.audit.helpers import entry

GOLDEN_JSON = (
    '{"action":"chat","credential_id":"k1","decision":"allow","input_tokens":11,"kind":"request",'
    '"model":"gpt-4o","org_id":"org1","output_tokens":5,"principal_id":"p1","request_id":"r1",'
    '"rule":"g1","status":200,"ts":1700000000.25}'
)
GOLDEN_HASH = "ac7b83a91b0f942d52f31cfb0615e208450853650b93196a1718c460fd8d012a"


def _documented_link(prev: str, seq: int, ts: float, kind: str, entry_json: str) -> str:
    # The framing exactly as chain's docstring states it, written independently.
    def lp(s: str) -> bytes:
        b = s.encode("utf-8")
        return struct.pack(">I", len(b)) + b

    data = b"switchgear.audit.v1\n" + lp(prev) + struct.pack(">Q", seq) + struct.pack(">d", ts) + lp(kind) + lp(entry_json)
    return hashlib.sha256(data).hexdigest()


def test_canonical_encoding_and_link_are_pinned() -> None:
    # A change here would make every existing record fail verification: never "fix" this test.
    assert chain.canonical(entry(1)) == GOLDEN_JSON
    assert chain.link(chain.GENESIS, 1, 1_700_000_000.25, "request", GOLDEN_JSON) == GOLDEN_HASH
    assert _documented_link(chain.GENESIS, 1, 1_700_000_000.25, "request", GOLDEN_JSON) == GOLDEN_HASH


def test_canonical_sorts_nested_keys_and_omits_unset_fields() -> None:
    e = AuditEntry(ts=1.5, kind="admin", action="keys.create", decision="allow", details={"z": 1, "a": {"y": 2, "b": 3}})
    assert chain.canonical(e) == (
        '{"action":"keys.create","decision":"allow","details":{"a":{"b":3,"y":2},"z":1},"kind":"admin","ts":1.5}'
    )


@given(
    prev=st.text(max_size=5), seq=st.integers(1, 2**63), ts=st.floats(allow_nan=False),
    kind=st.text(max_size=5), body=st.text(max_size=8), cut=st.integers(0, 8),
)
@settings(max_examples=200)
def test_framing_is_unambiguous(prev: str, seq: int, ts: float, kind: str, body: str, cut: int) -> None:
    assert chain.link(prev, seq, ts, kind, body) == _documented_link(prev, seq, ts, kind, body)
    # Moving characters across a field boundary changes the hash.
    joined = kind + body
    cut = min(cut, len(joined))
    if (joined[:cut], joined[cut:]) != (kind, body):
        assert chain.link(prev, seq, ts, joined[:cut], joined[cut:]) != chain.link(prev, seq, ts, kind, body)
    assert chain.link(prev, seq + 1, ts, kind, body) != chain.link(prev, seq, ts, kind, body)


def test_checkpoint_statement_binds_all_three_fields() -> None:
    base = chain.checkpoint_statement(10, "ab" * 32, 5.0)
    assert base != chain.checkpoint_statement(11, "ab" * 32, 5.0)
    assert base != chain.checkpoint_statement(10, "ac" * 32, 5.0)
    assert base != chain.checkpoint_statement(10, "ab" * 32, 5.5)


_any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=12)


@given(
    principal=_any_text, model=_any_text, ip=_any_text,
    details=st.dictionaries(_any_text, st.one_of(_any_text, st.integers(), st.floats()), max_size=3),
)
@settings(max_examples=200)
def test_prepare_never_fails_and_keeps_columns_equal_to_json(principal: str, model: str, ip: str, details: dict) -> None:
    # Lone surrogates, NULs, odd floats: an entry must never poison a batch.
    e = AuditEntry(
        ts=1.0, kind="request", action="chat", decision="deny", principal_id=principal, model=model,
        client_ip=ip, details=details,
    )
    stored, js = chain.prepare(e)
    assert chain.prepare(stored) == (stored, js)  # deterministic, and stable once prepared
    back = msgspec.json.decode(js, type=AuditEntry)
    assert back.principal_id == stored.principal_id
    assert "\x00" not in (stored.principal_id or "")
    js.encode("utf-8")  # valid UTF-8 throughout


def test_prepare_leaves_ordinary_entries_untouched() -> None:
    e = entry(3, principal_name="Zoë \u2603", details={"note": "a\x00b"})
    stored, js = chain.prepare(e)
    assert stored is e  # NUL outside the indexed columns is just escaped JSON
    assert "\\u0000" in js
