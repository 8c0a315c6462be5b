"""The audit record routes, and the contract (``AuditRecords``) they read the store through.

The admin API only reads the record here; the audit store itself (hash chain, queue,
checkpoints) is another module's. Its answers are checked against the documented
shapes (schemas.AuditEntry, AuditVerify, AccessReview): a mismatch is a bug to log
and a 500, never something passed on to a client as if it were valid.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import msgspec

from switchgear.admin.call import Call, NotImplementedYet, parse_time
from switchgear.admin.schemas import (
    AccessReview,
    AccessReviewQuery,
    AuditEntry,
    AuditFilter,
    AuditQuery,
    AuditVerify,
)
from switchgear.core.errors import InternalError

log = logging.getLogger("switchgear.admin")
_encode = msgspec.json.encode


class AuditRecords(Protocol):
    """The audit store as the admin API reads it (implemented by the audit module).

    ``filters.org_id`` is always the caller's organisation. ``query`` returns entries
    (dicts with at least seq, ts, action, decision — schemas.AuditEntry), oldest first,
    after ``after_seq``, at most ``limit``; ``export`` the same, unlimited, as JSON lines;
    ``verify`` checks the hash chain (a dict with at least ``ok``); ``access_review``
    returns a dict shaped like schemas.AccessReview for one organisation."""

    async def query(self, filters: AuditFilter) -> list[dict[str, Any]]: ...

    async def export(self, filters: AuditFilter) -> bytes: ...

    async def verify(self) -> dict[str, Any]: ...

    async def access_review(self, org_id: str, window_days: int, unused_days: int) -> dict[str, Any]: ...


def _records(call: Call) -> AuditRecords:
    if call.records is None:
        raise NotImplementedYet("the audit record is not available on this gateway (no audit store configured)")
    return call.records


def _filter(call: Call, limit: int | None) -> AuditFilter:
    aq: AuditQuery = call.query
    return AuditFilter(
        org_id=call.org_id, since=parse_time(aq.since, "since"), until=parse_time(aq.until, "until"),
        principal_id=aq.principal_id, credential_id=aq.credential_id, agent_id=aq.agent_id, action=aq.action,
        decision=aq.decision, after_seq=aq.after_seq, limit=limit,
    )


def _conform(value: Any, shape: Any, what: str) -> None:
    try:
        msgspec.convert(value, shape)
    except msgspec.ValidationError as e:
        log.error("audit records %s returned a malformed result: %s", what, e)
        raise InternalError(f"audit records {what} returned a malformed result") from None


# Handlers return the store's own dicts (encoded), so fields it adds pass through.


async def query(call: Call) -> bytes:
    records = _records(call)
    rows = await records.query(_filter(call, call.query.limit))
    _conform(rows, list[AuditEntry], "query")
    more = rows[-1]["seq"] if rows and len(rows) >= call.query.limit else None
    return _encode({"object": "list", "data": rows, "next_after_seq": more})


async def export(call: Call) -> bytes:
    records = _records(call)
    return await records.export(_filter(call, None))


async def verify(call: Call) -> bytes:
    result = await _records(call).verify()
    _conform(result, AuditVerify, "verify")
    return _encode(result)


async def access_review(call: Call) -> bytes:
    aq: AccessReviewQuery = call.query
    result = await _records(call).access_review(call.org_id, aq.window_days, aq.unused_days)
    _conform(result, AccessReview, "access_review")
    return _encode(result)
