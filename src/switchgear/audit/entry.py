"""One audit entry: who did what, on whose behalf, and what the gateway decided.

Built on the event loop for every request, so it is a plain msgspec Struct: keyword
construction is one allocation and no validation. It is encoded (and hashed) later, in
the writer's worker thread (see chain.canonical). ``omit_defaults`` keeps unset fields
out of the canonical JSON, so adding an optional field later does not change the bytes
(and hashes) of entries written before it existed.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Kind = Literal["request", "admin"]
Decision = Literal["allow", "deny"]


# gc=False: an entry holds only strings, numbers and JSON-like dicts, never a cycle back
# to itself, so the collector need not track the 100k entries a full queue may hold.
class AuditEntry(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    ts: float  # unix seconds, when the request was decided
    kind: Kind
    action: str  # requests: the endpoint ("chat", "messages", …); admin: "keys.create", …
    decision: Decision
    rule: str | None = None  # the grant id that allowed, or the denial code
    request_id: str | None = None
    org_id: str | None = None
    principal_id: str | None = None
    principal_name: str | None = None
    principal_kind: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    on_behalf_of_id: str | None = None
    on_behalf_of_name: str | None = None
    credential_id: str | None = None  # the key's id, never the secret
    model: str | None = None  # as requested
    deployment: str | None = None
    provider: str | None = None
    status: int | None = None
    error_code: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None
    policy: dict[str, Any] | None = None
    target: str | None = None  # admin: the id of the object acted on
    details: dict[str, Any] | None = None  # admin: the validated input, minus secrets
    client_ip: str | None = None


# The entry fields copied into indexed columns of audit_log (verify checks they agree).
INDEX_FIELDS: tuple[str, ...] = ("org_id", "principal_id", "agent_id", "credential_id", "action", "decision")
