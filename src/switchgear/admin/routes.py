"""The admin API's route table: path, action (the audit and authz name), handler, shapes.

The router matches against it, authz.RULES must name every action in it, and the
OpenAPI document is generated from it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.admin import authz, manage, openapi, record, spend
from switchgear.admin.call import Call
from switchgear.admin.router import PREFIX, Route
from switchgear.admin.schemas import (
    AccessReview,
    AccessReviewQuery,
    AgentCreate,
    ApiKey,
    ApiKeyWithSecret,
    AuditPage,
    AuditQuery,
    AuditVerify,
    Grant,
    GrantCreate,
    GrantList,
    GrantsQuery,
    KeyCreate,
    KeyList,
    KeyRotate,
    KeysQuery,
    Member,
    MemberAdd,
    MemberList,
    PrincipalList,
    PrincipalUpdate,
    RotatedKey,
    ServiceAccountCreate,
    SpendQuery,
    SpendReport,
    Team,
    TeamCreate,
    TeamList,
    UserCreate,
    Whoami,
)
from switchgear.admin.schemas import Principal as PrincipalRow


async def whoami(call: Call) -> Whoami:
    p = call.principal
    return Whoami(
        id=p.id, kind=p.kind, name=p.name, org_id=p.org_id, role=p.role, teams=sorted(p.teams),
        team_admin_of=sorted(p.team_admin_of), credential_id=p.key_id, expires_at=p.expires_at,
        actions=authz.actions_for(p),
    )


async def openapi_document(call: Call) -> bytes:
    return _DOCUMENT  # generated once, at import, from the table below


_CREATE_BODY: dict[str, type] = {"users": UserCreate, "service_accounts": ServiceAccountCreate,
                                 "agents": AgentCreate}


def _principal_routes(segment: str, action: str, noun: str) -> list[Route]:
    base = f"{PREFIX}/{segment}"
    return [
        Route("POST", base, f"{action}.create", manage.create_principal, f"Create a {noun}", 201,
              body=_CREATE_BODY[action], response=PrincipalRow, mutates=True),
        Route("GET", base, f"{action}.list", manage.list_principals, f"List {noun}s", response=PrincipalList),
        Route("GET", base + "/{principal_id}", f"{action}.get", manage.get_principal, f"Show a {noun}",
              response=PrincipalRow),
        Route("PATCH", base + "/{principal_id}", f"{action}.update", manage.update_principal,
              f"Change a {noun}'s role, disabled flag, email, purpose or on_behalf_of",
              body=PrincipalUpdate, response=PrincipalRow, mutates=True),
    ]


_Any: Any = dict[str, Any]  # the OpenAPI document: any JSON object

ROUTES: tuple[Route, ...] = (
    Route("GET", f"{PREFIX}/whoami", "whoami", whoami, "The calling principal and the actions it may attempt",
          response=Whoami),
    Route("GET", f"{PREFIX}/openapi.json", "openapi.get", openapi_document, "This API's OpenAPI 3.1 document",
          response=_Any),
    Route("POST", f"{PREFIX}/teams", "teams.create", manage.create_team, "Create a team", 201,
          body=TeamCreate, response=Team, mutates=True),
    Route("GET", f"{PREFIX}/teams", "teams.list", manage.list_teams, "List teams", response=TeamList),
    Route("GET", f"{PREFIX}/teams/{{team_id}}", "teams.get", manage.get_team, "Show a team", response=Team),
    Route("POST", f"{PREFIX}/teams/{{team_id}}/members", "teams.members.add", manage.add_member,
          "Add a principal to a team (or change its team role)", 201, body=MemberAdd, response=Member,
          mutates=True),
    Route("GET", f"{PREFIX}/teams/{{team_id}}/members", "teams.members.list", manage.list_members,
          "List a team's members", response=MemberList),
    Route("DELETE", f"{PREFIX}/teams/{{team_id}}/members/{{principal_id}}", "teams.members.remove",
          manage.remove_member, "Remove a principal from a team", 204, mutates=True),
    *_principal_routes("users", "users", "user"),
    *_principal_routes("service-accounts", "service_accounts", "service account"),
    *_principal_routes("agents", "agents", "agent"),
    Route("POST", f"{PREFIX}/keys", "keys.create", manage.create_key,
          "Create an API key; the response carries the secret once (field key)", 201,
          body=KeyCreate, response=ApiKeyWithSecret, mutates=True),
    Route("GET", f"{PREFIX}/keys", "keys.list", manage.list_keys, "List API keys (never a secret)",
          query=KeysQuery, response=KeyList),
    Route("GET", f"{PREFIX}/keys/{{key_id}}", "keys.get", manage.get_key, "Show an API key", response=ApiKey),
    Route("POST", f"{PREFIX}/keys/{{key_id}}/rotate", "keys.rotate", manage.rotate_key,
          "Replace a key: the old one stays valid for overlap_s; the new secret is shown once", 201,
          body=KeyRotate, response=RotatedKey, mutates=True),
    Route("POST", f"{PREFIX}/keys/{{key_id}}/revoke", "keys.revoke", manage.revoke_key, "Revoke a key now",
          response=ApiKey, mutates=True),
    Route("POST", f"{PREFIX}/grants", "grants.create", manage.create_grant, "Grant models and endpoints", 201,
          body=GrantCreate, response=Grant, mutates=True),
    Route("GET", f"{PREFIX}/grants", "grants.list", manage.list_grants, "List grants", query=GrantsQuery,
          response=GrantList),
    Route("GET", f"{PREFIX}/grants/{{grant_id}}", "grants.get", manage.get_grant, "Show a grant", response=Grant),
    Route("DELETE", f"{PREFIX}/grants/{{grant_id}}", "grants.delete", manage.delete_grant, "Delete a grant", 204,
          mutates=True),
    Route("GET", f"{PREFIX}/audit", "audit.query", record.query, "Read the audit record", query=AuditQuery,
          response=AuditPage),
    Route("GET", f"{PREFIX}/audit/export", "audit.export", record.export, "Export the audit record as JSON lines",
          query=AuditQuery, response=str, media_type="application/x-ndjson"),
    Route("GET", f"{PREFIX}/audit/verify", "audit.verify", record.verify, "Verify the audit hash chain",
          response=AuditVerify),
    Route("GET", f"{PREFIX}/access-review", "access_review.get", record.access_review,
          "Per credential: granted versus used models and endpoints, unused and non-expiring keys",
          query=AccessReviewQuery, response=AccessReview),
    Route("GET", f"{PREFIX}/spend", "spend.query", spend.report,
          "Spend by key, user, team, agent, organisation, model, provider or day, with a total",
          query=SpendQuery, response=SpendReport),
)

_DOCUMENT = msgspec.json.encode(openapi.document(ROUTES))
