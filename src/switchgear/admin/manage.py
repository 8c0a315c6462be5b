"""The identity handlers: teams and members, users / service accounts / agents, keys, grants.

Each is one store transaction. When a call is allowed only as team_admin
(``call.scoped``), the scope check runs on rows read inside that same transaction, so
what is checked is what is changed. Cross-organisation ids fail in the repository's
org-scoped lookups first: 404, never a 403 that would confirm they exist.
"""

from __future__ import annotations

import time

import msgspec

from switchgear.admin import authz
from switchgear.admin import queries as q
from switchgear.admin.call import Call, Conflict
from switchgear.admin.schemas import (
    ApiKey,
    ApiKeyWithSecret,
    Grant,
    GrantCreate,
    GrantList,
    KeyCreate,
    KeyList,
    KeyRotate,
    Member,
    MemberList,
    PrincipalList,
    RotatedKey,
    Team,
    TeamList,
)
from switchgear.admin.schemas import Principal as PrincipalRow
from switchgear.core.errors import InvalidRequest, NotFound
from switchgear.identity import repository as repo
from switchgear.store.database import Conn

_KINDS: dict[str, repo.PrincipalKind] = {"users": "user", "service_accounts": "service_account", "agents": "agent"}


# ---- teams and members -----------------------------------------------------------


async def create_team(call: Call) -> Team:
    def tx(conn: Conn) -> Team:
        name = call.body.name
        if any(t.name == name for t in repo.list_teams(conn, call.org_id)):
            raise Conflict(f"a team named '{name}' already exists", param="name")
        return repo.create_team(conn, call.org_id, name)

    team = await call.db.run(tx)
    call.target = team.id
    return team


async def list_teams(call: Call) -> TeamList:
    teams = await call.db.run(repo.list_teams, call.org_id)
    if call.scoped:
        teams = [t for t in teams if t.id in call.principal.team_admin_of]
    return TeamList(data=teams)


async def get_team(call: Call) -> Team:
    team: Team = await call.db.run(repo.get_team, call.org_id, call.params["team_id"])
    if call.scoped:
        authz.require_team(call.action, call.principal, team.id)
    return team


async def list_members(call: Call) -> MemberList:
    def tx(conn: Conn) -> list[Member]:
        members = repo.list_members(conn, call.org_id, call.params["team_id"])  # 404 first
        if call.scoped:
            authz.require_team(call.action, call.principal, call.params["team_id"])
        return members

    return MemberList(data=await call.db.run(tx))


async def add_member(call: Call) -> Member:
    team_id, body = call.params["team_id"], call.body
    call.target = body.principal_id

    def tx(conn: Conn) -> Member:
        repo.get_team(conn, call.org_id, team_id)
        target = repo.get_principal(conn, call.org_id, body.principal_id)
        if body.role == "team_admin" and target.kind == "agent":
            raise InvalidRequest("an agent cannot be a team admin", param="role")
        if call.scoped:
            authz.require_team(call.action, call.principal, team_id)
            current = q.memberships(conn, call.org_id, target.id).get(team_id)
            # Only org_admin sets team roles: adding (or re-adding, which would demote) a team_admin.
            if body.role == "team_admin" or current == "team_admin":
                raise authz.Forbidden(
                    f"permission denied: setting the team_admin role in team {team_id} requires role org_admin")
        return repo.add_member(conn, call.org_id, team_id, target.id, body.role)

    return await call.db.run(tx)


async def remove_member(call: Call) -> None:
    team_id, principal_id = call.params["team_id"], call.params["principal_id"]

    def tx(conn: Conn) -> None:
        repo.get_team(conn, call.org_id, team_id)
        if call.scoped:
            authz.require_team(call.action, call.principal, team_id)
            if q.memberships(conn, call.org_id, principal_id).get(team_id) == "team_admin":
                raise authz.Forbidden(
                    f"permission denied: removing a team_admin of team {team_id} requires role org_admin")
        repo.remove_member(conn, call.org_id, team_id, principal_id)

    await call.db.run(tx)


# ---- principals ------------------------------------------------------------------


def _kind(call: Call) -> repo.PrincipalKind:
    return _KINDS[call.action.partition(".")[0]]


def _of_kind(conn: Conn, call: Call) -> PrincipalRow:
    kind = _kind(call)
    p = repo.get_principal(conn, call.org_id, call.params["principal_id"])
    if p.kind != kind:  # /users/{id} names users only
        raise NotFound(f"no {kind.replace('_', ' ')} {p.id}")
    return p


async def create_principal(call: Call) -> PrincipalRow:
    kind, b = _kind(call), call.body

    def tx(conn: Conn) -> PrincipalRow:
        if any(p.name == b.name for p in repo.list_principals(conn, call.org_id, kind)):
            raise Conflict(f"a {kind.replace('_', ' ')} named '{b.name}' already exists", param="name")
        if kind == "agent":
            return repo.create_principal(conn, call.org_id, kind, b.name, owner_id=b.owner_id,
                                         purpose=b.purpose, on_behalf_of=b.on_behalf_of)
        if kind == "user":
            return repo.create_principal(conn, call.org_id, kind, b.name, email=b.email,
                                         external_id=b.external_id, role=b.role)
        return repo.create_principal(conn, call.org_id, kind, b.name, role=b.role)

    p = await call.db.run(tx)
    call.target = p.id
    return p


async def list_principals(call: Call) -> PrincipalList:
    kind = _kind(call)

    def tx(conn: Conn) -> list[PrincipalRow]:
        rows = repo.list_principals(conn, call.org_id, kind)
        if call.scoped:
            members = q.members_of(conn, call.org_id, call.principal.team_admin_of)
            rows = [p for p in rows if p.id in members]
        return rows

    return PrincipalList(data=await call.db.run(tx))


async def get_principal(call: Call) -> PrincipalRow:
    def tx(conn: Conn) -> PrincipalRow:
        p = _of_kind(conn, call)
        if call.scoped:
            authz.require_member(call.action, call.principal, p.id, q.memberships(conn, call.org_id, p.id))
        return p

    return await call.db.run(tx)


async def update_principal(call: Call) -> PrincipalRow:
    changes = call.body.changes()
    if not changes:
        raise InvalidRequest("nothing to change: send at least one of role, disabled, email, purpose, "
                             "on_behalf_of")

    def tx(conn: Conn) -> PrincipalRow:
        p = _of_kind(conn, call)
        demoted = changes.get("role", p.role) != "org_admin" or changes.get("disabled", p.disabled)
        if p.role == "org_admin" and not p.disabled and demoted:
            others = [o for o in repo.list_principals(conn, call.org_id)
                      if o.id != p.id and o.role == "org_admin" and not o.disabled]
            if not others:  # keep the organisation administrable
                raise Conflict(f"{p.id} is the organisation's last enabled org_admin; "
                               "make another principal org_admin first")
        return repo.update_principal(conn, call.org_id, p.id, **changes)

    return await call.db.run(tx)


# ---- keys --------------------------------------------------------------------------


def _may_mint_for(conn: Conn, call: Call, target: PrincipalRow) -> None:
    """A team admin may give out a key only for a principal whose every right is within
    the admin's teams' rights (the key carries all of them)."""
    teams = q.memberships(conn, call.org_id, target.id)
    authz.require_key_holder(call.action, call.principal, target.id, target.role, teams)
    held = [g for t in teams for g in repo.list_grants(conn, call.org_id, t) if g.subject_type == "team"]
    for g in repo.list_grants(conn, call.org_id, target.id):
        if g.subject_type == "principal":
            authz.require_within(call.action, list(teams), held, g.models, g.endpoints, g.max_tokens,
                                 g.data_classes, g.regions)


async def create_key(call: Call) -> ApiKeyWithSecret:
    b: KeyCreate = call.body
    if b.expires_in_s is not None and b.expires_at is not None:
        raise InvalidRequest("give expires_in_s or expires_at, not both", param="expires_at")
    expires_at = b.expires_at if b.expires_in_s is None else time.time() + b.expires_in_s

    def tx(conn: Conn) -> tuple[ApiKey, str]:
        target = repo.get_principal(conn, call.org_id, b.principal_id)
        if call.scoped:
            _may_mint_for(conn, call, target)
        return repo.create_key(conn, call.org_id, target.id, b.name, expires_at=expires_at,
                               created_by=call.principal.id)

    key, secret = await call.db.run(tx)
    call.target = key.id
    return ApiKeyWithSecret(**msgspec.structs.asdict(key), key=secret)


async def list_keys(call: Call) -> KeyList:
    def tx(conn: Conn) -> list[ApiKey]:
        keys = repo.list_keys(conn, call.org_id, call.query.principal_id)
        if call.scoped:
            members = q.members_of(conn, call.org_id, call.principal.team_admin_of)
            keys = [k for k in keys if k.principal_id in members]
        return keys

    return KeyList(data=await call.db.run(tx))


async def get_key(call: Call) -> ApiKey:
    def tx(conn: Conn) -> ApiKey:
        key = repo.get_key(conn, call.org_id, call.params["key_id"])
        if call.scoped:
            teams = q.memberships(conn, call.org_id, key.principal_id)
            authz.require_member(call.action, call.principal, key.principal_id, teams)
        return key

    return await call.db.run(tx)


async def rotate_key(call: Call) -> RotatedKey:
    b: KeyRotate = call.body
    expires_at = None if b.expires_in_s is None else time.time() + b.expires_in_s

    def tx(conn: Conn) -> tuple[ApiKey, str, ApiKey]:
        old = repo.get_key(conn, call.org_id, call.params["key_id"])
        if call.scoped:
            _may_mint_for(conn, call, repo.get_principal(conn, call.org_id, old.principal_id))
        new, secret = repo.rotate_key(conn, call.org_id, old.id, overlap_s=b.overlap_s, expires_at=expires_at,
                                      created_by=call.principal.id)
        return new, secret, repo.get_key(conn, call.org_id, old.id)

    new, secret, previous = await call.db.run(tx)
    call.target = new.id
    return RotatedKey(**msgspec.structs.asdict(new), key=secret, previous=previous)


async def revoke_key(call: Call) -> ApiKey:
    def tx(conn: Conn) -> ApiKey:
        key = repo.get_key(conn, call.org_id, call.params["key_id"])
        if call.scoped:
            holder = repo.get_principal(conn, call.org_id, key.principal_id)
            teams = q.memberships(conn, call.org_id, holder.id)
            authz.require_key_holder(call.action, call.principal, holder.id, holder.role, teams)
        return repo.revoke_key(conn, call.org_id, key.id)

    return await call.db.run(tx)


# ---- grants ------------------------------------------------------------------------


def _grant_scope(conn: Conn, call: Call, subject_type: str, subject_id: str) -> list[str]:
    """The admin's teams whose rights bound a grant on this subject (403 if none)."""
    if subject_type == "team":
        repo.get_team(conn, call.org_id, subject_id)
        authz.require_team(call.action, call.principal, subject_id)
        return [subject_id]
    teams = q.memberships(conn, call.org_id, subject_id)
    authz.require_member(call.action, call.principal, subject_id, teams)
    return sorted(set(teams) & call.principal.team_admin_of)


async def create_grant(call: Call) -> Grant:
    b: GrantCreate = call.body
    for name, values in (("models", b.models), ("endpoints", b.endpoints),
                         ("data_classes", b.data_classes or []), ("regions", b.regions or [])):
        if len(set(values)) != len(values):
            raise InvalidRequest(f"{name} lists a value twice", param=name)

    def tx(conn: Conn) -> Grant:
        if b.subject_type == "principal":
            repo.get_principal(conn, call.org_id, b.subject_id)  # 404 before any scope question
        if call.scoped:
            teams = _grant_scope(conn, call, b.subject_type, b.subject_id)
            held = [g for t in teams for g in repo.list_grants(conn, call.org_id, t) if g.subject_type == "team"]
            authz.require_within(call.action, teams, held, b.models, b.endpoints, b.max_tokens,
                                 b.data_classes, b.regions)
        return repo.create_grant(conn, call.org_id, b.subject_type, b.subject_id, models=b.models,
                                 endpoints=list(b.endpoints), max_tokens=b.max_tokens,
                                 data_classes=b.data_classes, regions=b.regions, created_by=call.principal.id)

    g = await call.db.run(tx)
    call.target = g.id
    return g


def _visible_grants(conn: Conn, call: Call, grants: list[Grant]) -> list[Grant]:
    if not call.scoped:
        return grants
    admin_teams = call.principal.team_admin_of
    members = q.members_of(conn, call.org_id, admin_teams)
    return [g for g in grants if (g.subject_id in admin_teams if g.subject_type == "team"
                                  else g.subject_id in members)]


async def list_grants(call: Call) -> GrantList:
    def tx(conn: Conn) -> list[Grant]:
        return _visible_grants(conn, call, repo.list_grants(conn, call.org_id, call.query.subject_id))

    return GrantList(data=await call.db.run(tx))


async def get_grant(call: Call) -> Grant:
    def tx(conn: Conn) -> Grant:
        g = repo.get_grant(conn, call.org_id, call.params["grant_id"])
        if call.scoped:
            _grant_scope(conn, call, g.subject_type, g.subject_id)
        return g

    return await call.db.run(tx)


async def delete_grant(call: Call) -> None:
    def tx(conn: Conn) -> None:
        g = repo.get_grant(conn, call.org_id, call.params["grant_id"])
        if call.scoped:
            _grant_scope(conn, call, g.subject_type, g.subject_id)
        repo.delete_grant(conn, call.org_id, g.id)

    await call.db.run(tx)

