"""One request's spend, as the meter stage hands it to the ledger.

Built on the event loop once per request, so it is a flat struct of scalars: one
allocation, no validation, no encoding (``gc=False``: it holds no containers, so the
cycle collector never needs to track it). The ledger's ``day`` column is not here: the
writer derives it from ``ts`` in the configured time zone, off the event loop.
"""

from __future__ import annotations

import msgspec


class SpendRecord(msgspec.Struct, kw_only=True, gc=False):
    ts: float  # unix seconds: when the request finished
    request_id: str  # unique per request: a retried batch never counts a request twice
    org_id: str | None  # None for a config-file key (no organisation)
    principal_id: str | None
    principal_kind: str | None  # "user" | "service_account" | "agent" | …
    credential_id: str | None  # the key's prefix (Principal.key_id): never a secret
    agent_id: str | None = None  # the principal, when it is an agent
    user_id: str | None = None  # the principal if it is a user, else the on-behalf-of user
    team_id: str | None = None  # the team charged: the team whose grant allowed the request
    model: str  # the configured model (or group) name the client asked for
    provider: str | None = None
    deployment: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0  # a subset of input_tokens (core.types.Usage)
    cache_write_tokens: int = 0  # a subset of input_tokens: prompt-cache writes (priced apart)
    reasoning_tokens: int = 0  # a subset of output_tokens
    cost_nano: int = 0  # integer nano-USD (limits.types)
    estimated: bool = False  # usage counted by us: the upstream reported none
    cached: bool = False  # answered from the response cache (cost 0)
