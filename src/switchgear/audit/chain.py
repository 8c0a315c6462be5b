"""The hash chain, as pure functions: canonical entry bytes, links, checkpoint statements.

Canonical entry JSON
    ``msgspec.json`` of the AuditEntry with object keys sorted (struct fields and nested
    dict keys), no whitespace, unset (None) fields omitted, UTF-8. The chain hashes the
    *stored text* of each entry, so verification never re-encodes: a future msgspec that
    formatted a float differently would change new entries' text, never old hashes.

Link (one entry's hash)::

    hash = hex( SHA-256( b"switchgear.audit.v1\\n"
                         || u32be(len(prev_hash)) || prev_hash
                         || u64be(seq)
                         || f64be(ts)
                         || u32be(len(kind)) || kind
                         || u32be(len(entry_json)) || entry_json ) )

    strings are UTF-8 bytes and lengths count bytes; u32be/u64be are big-endian unsigned
    integers, f64be the big-endian IEEE-754 binary64 of ts (exact; no decimal formatting
    to disagree on). Every variable-length field carries its length and the fixed-width
    ones have one size, so no two different (prev_hash, seq, ts, kind, entry) tuples frame
    to the same bytes. The first entry's prev_hash is GENESIS (64 zeros, as the migration
    seeds audit_head). Because seq is inside the hash, moving an entry to another seq
    breaks its hash; because prev_hash is, removing or reordering entries breaks the link.

Checkpoint statement (what a checkpoint signature covers)::

    b"switchgear.audit.checkpoint.v1\\n" || u64be(seq) || u32be(len(hash)) || hash || f64be(ts)
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import msgspec

from switchgear.audit.entry import AuditEntry

GENESIS = "0" * 64

_LINK_TAG = b"switchgear.audit.v1\n"
_CHECKPOINT_TAG = b"switchgear.audit.checkpoint.v1\n"
_U32 = struct.Struct(">I")
_SEQ_TS = struct.Struct(">Qd")

_ENCODER = msgspec.json.Encoder(order="sorted")


def canonical(entry: AuditEntry) -> str:
    """The entry's canonical JSON text (raises if some value cannot be encoded)."""
    return _ENCODER.encode(entry).decode()


def link(prev_hash: str, seq: int, ts: float, kind: str, entry_json: str) -> str:
    """The hash of the entry at ``seq``; the framing is in the module docstring."""
    prev_b = prev_hash.encode()
    kind_b = kind.encode()
    entry_b = entry_json.encode()
    h = hashlib.sha256(_LINK_TAG)
    h.update(_U32.pack(len(prev_b)))
    h.update(prev_b)
    h.update(_SEQ_TS.pack(seq, ts))
    h.update(_U32.pack(len(kind_b)))
    h.update(kind_b)
    h.update(_U32.pack(len(entry_b)))
    h.update(entry_b)
    return h.hexdigest()


def checkpoint_statement(seq: int, hash_: str, ts: float) -> bytes:
    """The exact bytes a checkpoint signature signs."""
    hash_b = hash_.encode()
    return b"".join((
        _CHECKPOINT_TAG, struct.pack(">Q", seq), _U32.pack(len(hash_b)), hash_b, struct.pack(">d", ts),
    ))


def prepare(entry: AuditEntry) -> tuple[AuditEntry, str]:
    """The entry as it will be stored, and its canonical JSON.

    An entry must never poison a batch (the writer would retry it for ever): a string
    that is not valid Unicode (a lone surrogate from a header) or a NUL in an indexed
    column (PostgreSQL text refuses it) is replaced ("?" and U+FFFD), in the entry
    itself, so the stored columns still agree with the hashed JSON.
    """
    if not _nul_in_columns(entry):
        try:
            return entry, canonical(entry)
        except (UnicodeEncodeError, TypeError, msgspec.EncodeError):
            pass
    cleaned = msgspec.structs.replace(
        entry,
        **{f: _clean(getattr(entry, f)) for f in entry.__struct_fields__},
    )
    try:
        return cleaned, canonical(cleaned)
    except (UnicodeEncodeError, TypeError, msgspec.EncodeError):
        # Last resort: keep the record of the decision, lose the odd structured payload.
        last = msgspec.structs.replace(
            cleaned,
            policy={"unencodable": True} if cleaned.policy is not None else None,
            details={"unencodable": True} if cleaned.details is not None else None,
        )
        return last, canonical(last)


def _nul_in_columns(entry: AuditEntry) -> bool:
    for v in (entry.kind, entry.org_id, entry.principal_id, entry.agent_id, entry.credential_id, entry.action, entry.decision):
        if isinstance(v, str) and "\x00" in v:
            return True
    return False


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode().replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_clean(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value
