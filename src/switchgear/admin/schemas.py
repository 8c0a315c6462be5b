"""The admin API's request and response shapes.

Requests are strict (``forbid_unknown_fields``, bounded lengths) so a typo is a 400
naming the field, never a silently ignored setting. Responses reuse the repository's
row structs (``Team``, ``Principal``, ``ApiKey``, ``Grant``): what the store holds is
what the API shows, and the OpenAPI document is generated from these same classes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from switchgear.identity.repository import (
    ApiKey,
    Endpoint,
    Grant,
    Member,
    OnBehalfOf,
    OrgRole,
    Principal,
    Team,
    TeamRole,
)
from switchgear.spend.ledger import GroupBy, SpendRow, SpendTotals

__all__ = [
    "AccessReview", "AccessReviewEntry", "AccessReviewQuery", "AgentCreate", "ApiKey", "ApiKeyWithSecret",
    "AuditEntry", "AuditFilter", "AuditPage", "AuditQuery", "AuditVerify", "ErrorBody", "ErrorResponse",
    "Grant", "GrantCreate", "GrantList", "GrantsQuery", "KeyCreate", "KeyList", "KeyRotate", "KeysQuery",
    "Member", "MemberAdd", "MemberList", "Principal", "PrincipalList", "PrincipalUpdate",
    "RotatedKey", "ServiceAccountCreate", "SpendQuery", "SpendReport", "SpendRow", "SpendTotals", "Team",
    "TeamCreate", "TeamList", "UserCreate", "Whoami",
]

# ---- bounded scalars -----------------------------------------------------------------

# No control characters in any text: PostgreSQL cannot store NUL, and names end up in
# tables, logs and terminals. (Free text may still hold tabs and newlines.)
_LINE = r"^[^\x00-\x1f\x7f]*$"
_TEXT = r"^[^\x00-\x08\x0b-\x1f\x7f]*$"
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=_LINE, description="1 to 200 characters")]
Id = Annotated[str, Meta(min_length=1, max_length=100, pattern=_LINE)]
Email = Annotated[str, Meta(min_length=3, max_length=320, pattern=_LINE)]
Purpose = Annotated[str, Meta(min_length=1, max_length=1000, pattern=_TEXT)]
# A model name, "prefix/*" or "*": a '*' only at the end (rights.grant reads it that way).
ModelPattern = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[^*\x00-\x1f\x7f]*\*?$")]
Label = Annotated[str, Meta(min_length=1, max_length=100, pattern=_LINE)]
TEN_YEARS_S = 10 * 365 * 86400
Seconds = Annotated[float, Meta(gt=0, le=TEN_YEARS_S)]
Epoch = Annotated[float, Meta(gt=0)]


class _Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Request bodies: unknown fields are an error, not silently dropped."""


# ---- requests ---------------------------------------------------------------------------


class TeamCreate(_Strict):
    name: Name


class MemberAdd(_Strict):
    principal_id: Id
    role: TeamRole = "member"


class UserCreate(_Strict):
    name: Name
    email: Email | None = None
    external_id: Annotated[str, Meta(min_length=1, max_length=200, pattern=_LINE)] | None = None
    role: OrgRole | None = None


class ServiceAccountCreate(_Strict):
    name: Name
    role: OrgRole | None = None


class AgentCreate(_Strict):
    name: Name
    owner_id: Id
    purpose: Purpose
    on_behalf_of: OnBehalfOf = "optional"


class PrincipalUpdate(_Strict):
    """Only the fields sent change; ``null`` clears (e.g. ``"role": null`` removes a role)."""

    role: OrgRole | None | UnsetType = UNSET
    disabled: bool | UnsetType = UNSET
    email: Email | None | UnsetType = UNSET
    purpose: Purpose | UnsetType = UNSET
    on_behalf_of: OnBehalfOf | UnsetType = UNSET

    def changes(self) -> dict[str, Any]:
        return {f: v for f in self.__struct_fields__ if (v := getattr(self, f)) is not UNSET}


class KeyCreate(_Strict):
    principal_id: Id
    name: Name
    expires_in_s: Seconds | None = None
    expires_at: Epoch | None = None


class KeyRotate(_Strict):
    overlap_s: Annotated[float, Meta(ge=0, le=30 * 86400)] = 0.0
    expires_in_s: Seconds | None = None


class GrantCreate(_Strict):
    subject_type: Literal["principal", "team"]
    subject_id: Id
    models: Annotated[list[ModelPattern], Meta(min_length=1, max_length=100)]
    endpoints: Annotated[list[Endpoint], Meta(min_length=1, max_length=4)]
    max_tokens: Annotated[int, Meta(ge=1, le=10_000_000)] | None = None
    data_classes: Annotated[list[Label], Meta(max_length=100)] | None = None
    regions: Annotated[list[Label], Meta(max_length=100)] | None = None


# ---- query strings (values arrive as text; msgspec.convert(strict=False) types them) ----


class _Query(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class KeysQuery(_Query):
    principal_id: Id | None = None


class GrantsQuery(_Query):
    subject_id: Id | None = None


class AuditQuery(_Query):
    since: Annotated[str, Meta(max_length=40, pattern=_LINE, description="epoch seconds or ISO 8601")] | None = None
    until: Annotated[str, Meta(max_length=40, pattern=_LINE, description="epoch seconds or ISO 8601")] | None = None
    principal_id: Id | None = None
    credential_id: Id | None = None
    agent_id: Id | None = None
    action: Annotated[str, Meta(min_length=1, max_length=100, pattern=_LINE)] | None = None
    decision: Literal["allow", "deny"] | None = None
    after_seq: Annotated[int, Meta(ge=0)] | None = None
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100


class AccessReviewQuery(_Query):
    window_days: Annotated[int, Meta(ge=1, le=3650)] = 30
    unused_days: Annotated[int, Meta(ge=1, le=3650)] = 30


class SpendQuery(_Query):
    group_by: GroupBy = "model"
    since: Annotated[str, Meta(max_length=40, pattern=_LINE,
                               description="epoch seconds or ISO 8601; default: 30 days before until")] | None = None
    until: Annotated[str, Meta(max_length=40, pattern=_LINE,
                               description="epoch seconds or ISO 8601; default: now")] | None = None
    model: Annotated[str, Meta(min_length=1, max_length=200, pattern=_LINE)] | None = None
    provider: Annotated[str, Meta(min_length=1, max_length=100, pattern=_LINE)] | None = None
    team_id: Id | None = None
    principal_id: Id | None = None
    user_id: Id | None = None
    agent_id: Id | None = None
    credential_id: Id | None = None
    limit: Annotated[int, Meta(ge=1, le=10_000, description="most groups returned (highest cost first)")] = 1000


class AuditFilter(msgspec.Struct, kw_only=True, frozen=True):
    """What ``AuditRecords.query``/``export`` are asked for. ``org_id`` is always the
    caller's organisation (never taken from the request): the record is read per org."""

    org_id: str
    since: float | None = None
    until: float | None = None
    principal_id: str | None = None
    credential_id: str | None = None
    agent_id: str | None = None
    action: str | None = None
    decision: Literal["allow", "deny"] | None = None
    after_seq: int | None = None
    limit: int | None = None  # None: everything (export)


# ---- responses --------------------------------------------------------------------------


class Whoami(msgspec.Struct, kw_only=True):
    id: str
    kind: str
    name: str
    org_id: str | None
    role: str | None
    teams: list[str]
    team_admin_of: list[str]
    credential_id: str
    expires_at: float | None
    actions: list[str]  # the admin actions this caller may attempt (team_admin ones are scoped)


class TeamList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[Team]


class MemberList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[Member]


class PrincipalList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[Principal]


class KeyList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[ApiKey]


class GrantList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[Grant]


class ApiKeyWithSecret(ApiKey, kw_only=True):
    key: str  # the secret: in this response only, never stored, never shown again
    warning: str = "store this key now: it is not stored and will not be shown again"


class RotatedKey(ApiKeyWithSecret, kw_only=True):
    previous: ApiKey  # the replaced key, valid until its (new) expires_at


class AuditEntry(msgspec.Struct, kw_only=True):
    """The fields every audit entry has; the audit store may add more (they pass through)."""

    seq: int
    ts: float
    action: str
    decision: str


class AuditPage(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[AuditEntry]
    next_after_seq: int | None = None  # pass as after_seq for the next page; null: no more


class AuditVerify(msgspec.Struct, kw_only=True):
    ok: bool


class AccessReviewEntry(msgspec.Struct, kw_only=True):
    """One credential and what it was granted versus what it used."""

    credential_id: str  # as the audit record names it (Principal.key_id: a key's prefix)
    key_id: str | None = None  # the key's id for `keys` commands; null for a non-key credential
    principal_id: str
    principal_kind: str
    principal_name: str
    granted_models: list[str]
    granted_endpoints: list[str]
    used_models: list[str]
    used_endpoints: list[str]
    last_used_at: float | None = None
    unused: bool  # no use within unused_days
    expires_at: float | None = None  # null: the key never expires


class AccessReview(msgspec.Struct, kw_only=True):
    org_id: str
    generated_at: float
    window_days: int
    unused_days: int
    entries: list[AccessReviewEntry]


class SpendReport(msgspec.Struct, kw_only=True):
    """Spend in [since, until) grouped by group_by, highest cost first (by date for "day");
    total covers every group, even those cut off by limit (has_more). A team admin sees
    only spend charged to their teams."""

    object: Literal["list"] = "list"
    group_by: GroupBy
    since: float
    until: float
    data: list[SpendRow]
    total: SpendTotals
    has_more: bool = False


class ErrorBody(msgspec.Struct, kw_only=True):
    message: str
    type: str
    code: str
    param: str | None = None


class ErrorResponse(msgspec.Struct, kw_only=True):
    error: ErrorBody
