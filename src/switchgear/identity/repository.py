"""Identity in the durable store: organisations, teams, principals, keys and grants.

Plain functions over a ``store.database.Conn``, each run as one transaction by
``Database.run``. Every change bumps ``identity_revision`` in the same transaction
(and, on PostgreSQL, NOTIFYs it on commit) so every gateway process reloads its
in-process snapshot: revocation takes effect on the next request, in every process.

Rows come back as msgspec structs, which the admin API encodes as they are and
whose JSON Schemas its OpenAPI document is generated from.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Literal

import msgspec

from switchgear.identity import keys as keygen
from switchgear.store.database import Conn, IntegrityViolation

NOTIFY_CHANNEL = "switchgear_identity"

PrincipalKind = Literal["user", "service_account", "agent"]
OrgRole = Literal["org_admin", "auditor", "viewer"]
TeamRole = Literal["member", "team_admin"]
OnBehalfOf = Literal["required", "optional", "forbidden"]
Endpoint = Literal["chat", "messages", "embeddings", "models"]


class NotFound(Exception):
    """No such object (in this organisation)."""


class Invalid(Exception):
    """The change is not allowed by the model (message is safe to show)."""


class Conflict(Invalid):
    """A name that must be unique is taken (concurrent creates included)."""


class Org(msgspec.Struct, kw_only=True):
    id: str
    name: str
    created_at: float


class Team(msgspec.Struct, kw_only=True):
    id: str
    org_id: str
    name: str
    created_at: float


class Principal(msgspec.Struct, kw_only=True):
    id: str
    org_id: str
    kind: PrincipalKind
    name: str
    email: str | None = None
    external_id: str | None = None
    role: OrgRole | None = None
    owner_id: str | None = None
    purpose: str | None = None
    on_behalf_of: OnBehalfOf | None = None
    disabled: bool = False
    created_at: float


class Member(msgspec.Struct, kw_only=True):
    team_id: str
    principal_id: str
    role: TeamRole


class ApiKey(msgspec.Struct, kw_only=True):
    id: str
    prefix: str  # the visible part of the key, e.g. sk-sg-ab12cd34
    principal_id: str
    name: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    rotated_from: str | None = None
    created_by: str | None = None


class ApiKeyRow(ApiKey, kw_only=True):
    digest: str  # never leaves the process: the snapshot matches presented keys against it


class Grant(msgspec.Struct, kw_only=True):
    id: str
    org_id: str
    subject_type: Literal["principal", "team"]
    subject_id: str
    models: list[str]
    endpoints: list[Endpoint]
    max_tokens: int | None = None
    data_classes: list[str] | None = None
    regions: list[str] | None = None
    created_at: float
    created_by: str | None = None


class Snapshot(msgspec.Struct, kw_only=True):
    """Everything the data plane needs, read in one transaction."""

    revision: int
    orgs: list[Org]
    teams: list[Team]
    principals: list[Principal]
    members: list[Member]
    keys: list[ApiKeyRow]
    grants: list[Grant]


def new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(8)}"


def now() -> float:
    return time.time()


# ---- revision --------------------------------------------------------------------------


def bump_revision(conn: Conn) -> int:
    row = conn.one("UPDATE identity_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision")
    assert row is not None
    if conn.dialect == "postgresql":
        conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")  # delivered to listeners on commit
    return int(row[0])


def current_revision(conn: Conn) -> int:
    row = conn.one("SELECT revision FROM identity_revision WHERE id = 1")
    return int(row[0]) if row else 0


# ---- organisations and teams -----------------------------------------------------------


def create_org(conn: Conn, name: str) -> Org:
    org = Org(id=new_id("org"), name=name, created_at=now())
    _insert(conn, "orgs", org, f"an organisation named '{name}' already exists")
    bump_revision(conn)
    return org


def get_org(conn: Conn, org_id: str) -> Org:
    return _get(conn, Org, "orgs", org_id)


def find_org(conn: Conn, name: str) -> Org | None:
    row = conn.one("SELECT id, name, created_at FROM orgs WHERE name = ?", (name,))
    return None if row is None else Org(id=row[0], name=row[1], created_at=row[2])


def list_orgs(conn: Conn) -> list[Org]:
    return [Org(id=r[0], name=r[1], created_at=r[2]) for r in conn.all("SELECT id, name, created_at FROM orgs ORDER BY name")]


def create_team(conn: Conn, org_id: str, name: str) -> Team:
    get_org(conn, org_id)
    team = Team(id=new_id("team"), org_id=org_id, name=name, created_at=now())
    _insert(conn, "teams", team, f"a team named '{name}' already exists")
    bump_revision(conn)
    return team


def get_team(conn: Conn, org_id: str, team_id: str) -> Team:
    return _get(conn, Team, "teams", team_id, org_id)


def list_teams(conn: Conn, org_id: str) -> list[Team]:
    return _list(conn, Team, "teams", "org_id = ?", (org_id,), "name")


def add_member(conn: Conn, org_id: str, team_id: str, principal_id: str, role: TeamRole = "member") -> Member:
    get_team(conn, org_id, team_id)
    get_principal(conn, org_id, principal_id)
    conn.execute("DELETE FROM team_members WHERE team_id = ? AND principal_id = ?", (team_id, principal_id))
    conn.execute("INSERT INTO team_members (team_id, principal_id, role) VALUES (?, ?, ?)", (team_id, principal_id, role))
    bump_revision(conn)
    return Member(team_id=team_id, principal_id=principal_id, role=role)


def remove_member(conn: Conn, org_id: str, team_id: str, principal_id: str) -> None:
    get_team(conn, org_id, team_id)
    cur = conn.execute("DELETE FROM team_members WHERE team_id = ? AND principal_id = ?", (team_id, principal_id))
    if cur.rowcount == 0:
        raise NotFound(f"principal {principal_id} is not a member of team {team_id}")
    bump_revision(conn)


def list_members(conn: Conn, org_id: str, team_id: str) -> list[Member]:
    get_team(conn, org_id, team_id)
    rows = conn.all("SELECT team_id, principal_id, role FROM team_members WHERE team_id = ? ORDER BY principal_id", (team_id,))
    return [Member(team_id=r[0], principal_id=r[1], role=r[2]) for r in rows]


# ---- principals ------------------------------------------------------------------------


def create_principal(
    conn: Conn, org_id: str, kind: PrincipalKind, name: str, *, email: str | None = None,
    external_id: str | None = None, role: OrgRole | None = None, owner_id: str | None = None,
    purpose: str | None = None, on_behalf_of: OnBehalfOf | None = None,
) -> Principal:
    get_org(conn, org_id)
    if kind == "agent":
        if owner_id is None or not purpose:
            raise Invalid("an agent is registered with an owner (a user) and a purpose")
        owner = get_principal(conn, org_id, owner_id)
        if owner.kind != "user":
            raise Invalid(f"an agent's owner must be a user, not a {owner.kind}")
        if role is not None:
            raise Invalid("an agent cannot hold an admin role")
        on_behalf_of = on_behalf_of or "optional"
    elif owner_id is not None or purpose is not None or on_behalf_of is not None:
        raise Invalid("owner, purpose and on_behalf_of apply to agents only")
    p = Principal(
        id=new_id({"user": "usr", "service_account": "svc", "agent": "agt"}[kind]), org_id=org_id, kind=kind,
        name=name, email=email, external_id=external_id, role=role, owner_id=owner_id, purpose=purpose,
        on_behalf_of=on_behalf_of, created_at=now(),
    )
    _insert(conn, "principals", p, f"a {kind} named '{name}' already exists")
    bump_revision(conn)
    return p


def get_principal(conn: Conn, org_id: str, principal_id: str) -> Principal:
    return _get(conn, Principal, "principals", principal_id, org_id)


def list_principals(conn: Conn, org_id: str, kind: PrincipalKind | None = None) -> list[Principal]:
    if kind is None:
        return _list(conn, Principal, "principals", "org_id = ?", (org_id,), "kind, name")
    return _list(conn, Principal, "principals", "org_id = ? AND kind = ?", (org_id, kind), "name")


def update_principal(conn: Conn, org_id: str, principal_id: str, **changes: Any) -> Principal:
    """Change role, disabled, email, purpose or on_behalf_of."""
    p = get_principal(conn, org_id, principal_id)
    allowed = {"role", "disabled", "email", "purpose", "on_behalf_of"}
    bad = set(changes) - allowed
    if bad:
        raise Invalid(f"cannot change {', '.join(sorted(bad))}")
    if p.kind == "agent" and changes.get("role") is not None:
        raise Invalid("an agent cannot hold an admin role")
    if p.kind != "agent" and ({"purpose", "on_behalf_of"} & {k for k, v in changes.items() if v is not None}):
        raise Invalid("purpose and on_behalf_of apply to agents only")
    p = msgspec.structs.replace(p, **changes)
    conn.execute(
        "UPDATE principals SET role = ?, disabled = ?, email = ?, purpose = ?, on_behalf_of = ? WHERE id = ?",
        (p.role, int(p.disabled), p.email, p.purpose, p.on_behalf_of, p.id),
    )
    bump_revision(conn)
    return p


# ---- API keys --------------------------------------------------------------------------


def create_key(
    conn: Conn, org_id: str, principal_id: str, name: str, *, expires_at: float | None = None,
    created_by: str | None = None, rotated_from: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key for a principal: (its record, the secret — shown once, never stored)."""
    get_principal(conn, org_id, principal_id)
    if expires_at is not None and expires_at <= now():
        raise Invalid("expires_at is in the past")
    secret, prefix, digest = keygen.generate()
    row = ApiKeyRow(
        id=new_id("key"), prefix=prefix, digest=digest, principal_id=principal_id, name=name, created_at=now(),
        expires_at=expires_at, rotated_from=rotated_from, created_by=created_by,
    )
    _insert(conn, "api_keys", row, "key collision; try again")
    bump_revision(conn)
    return _public_key(row), secret


def get_key(conn: Conn, org_id: str, key_id: str) -> ApiKey:
    row = conn.one(
        f"SELECT {_cols(ApiKey, 'k.')} FROM api_keys k JOIN principals p ON p.id = k.principal_id "
        "WHERE k.id = ? AND p.org_id = ?",
        (key_id, org_id),
    )
    if row is None:
        raise NotFound(f"no key {key_id}")
    return _row(ApiKey, row)


def list_keys(conn: Conn, org_id: str, principal_id: str | None = None) -> list[ApiKey]:
    sql = (f"SELECT {_cols(ApiKey, 'k.')} FROM api_keys k JOIN principals p ON p.id = k.principal_id "
           "WHERE p.org_id = ?")
    params: tuple[Any, ...] = (org_id,)
    if principal_id is not None:
        sql += " AND k.principal_id = ?"
        params += (principal_id,)
    return [_row(ApiKey, r) for r in conn.all(sql + " ORDER BY k.created_at, k.id", params)]


def rotate_key(
    conn: Conn, org_id: str, key_id: str, *, overlap_s: float, expires_at: float | None = None,
    created_by: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key replacing ``key_id``: both are valid for ``overlap_s`` seconds, then only the new one."""
    old = get_key(conn, org_id, key_id)
    t = now()
    if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= t):
        raise Invalid(f"key {key_id} is revoked or expired; create a new key instead")
    if overlap_s < 0:
        raise Invalid("overlap_s must be >= 0")
    old_until = t + overlap_s if old.expires_at is None else min(old.expires_at, t + overlap_s)
    conn.execute("UPDATE api_keys SET expires_at = ? WHERE id = ?", (old_until, key_id))
    # The replacement's expiry is the caller's to choose (None: none), not inherited.
    return create_key(conn, org_id, old.principal_id, old.name, expires_at=expires_at,
                      created_by=created_by, rotated_from=key_id)


def revoke_key(conn: Conn, org_id: str, key_id: str) -> ApiKey:
    old = get_key(conn, org_id, key_id)
    if old.revoked_at is not None:
        return old
    t = now()
    conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (t, key_id))
    bump_revision(conn)
    return msgspec.structs.replace(old, revoked_at=t)


# ---- grants ----------------------------------------------------------------------------


def create_grant(
    conn: Conn, org_id: str, subject_type: Literal["principal", "team"], subject_id: str, *,
    models: list[str], endpoints: list[str], max_tokens: int | None = None,
    data_classes: list[str] | None = None, regions: list[str] | None = None, created_by: str | None = None,
) -> Grant:
    if subject_type == "principal":
        get_principal(conn, org_id, subject_id)
    else:
        get_team(conn, org_id, subject_id)
    if not models:
        raise Invalid("a grant names at least one model (or '*')")
    if not endpoints:
        raise Invalid("a grant names at least one endpoint")
    if max_tokens is not None and max_tokens < 1:
        raise Invalid("max_tokens must be >= 1")
    g = Grant(
        id=new_id("grant"), org_id=org_id, subject_type=subject_type, subject_id=subject_id, models=list(models),
        endpoints=list(endpoints),  # type: ignore[arg-type]
        max_tokens=max_tokens, data_classes=data_classes, regions=regions, created_at=now(), created_by=created_by,
    )
    conn.execute(
        "INSERT INTO grants (id, org_id, subject_type, subject_id, models, endpoints, max_tokens, data_classes, "
        "regions, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (g.id, g.org_id, g.subject_type, g.subject_id, _json(g.models), _json(g.endpoints), g.max_tokens,
         _json(g.data_classes), _json(g.regions), g.created_at, g.created_by),
    )
    bump_revision(conn)
    return g


def get_grant(conn: Conn, org_id: str, grant_id: str) -> Grant:
    rows = _grants(conn, "org_id = ? AND id = ?", (org_id, grant_id))
    if not rows:
        raise NotFound(f"no grant {grant_id}")
    return rows[0]


def list_grants(conn: Conn, org_id: str, subject_id: str | None = None) -> list[Grant]:
    if subject_id is None:
        return _grants(conn, "org_id = ?", (org_id,))
    return _grants(conn, "org_id = ? AND subject_id = ?", (org_id, subject_id))


def delete_grant(conn: Conn, org_id: str, grant_id: str) -> Grant:
    g = get_grant(conn, org_id, grant_id)
    conn.execute("DELETE FROM grants WHERE id = ?", (grant_id,))
    bump_revision(conn)
    return g


# ---- the snapshot the data plane runs on -----------------------------------------------


def load_snapshot(conn: Conn) -> Snapshot:
    return Snapshot(
        revision=current_revision(conn),
        orgs=list_orgs(conn),
        teams=_list(conn, Team, "teams", "1 = 1", (), "id"),
        principals=_list(conn, Principal, "principals", "1 = 1", (), "id"),
        members=[Member(team_id=r[0], principal_id=r[1], role=r[2])
                 for r in conn.all("SELECT team_id, principal_id, role FROM team_members")],
        keys=[_row(ApiKeyRow, r) for r in conn.all(f"SELECT {_cols(ApiKeyRow)} FROM api_keys")],
        grants=_grants(conn, "1 = 1", ()),
    )


# ---- helpers ---------------------------------------------------------------------------

_encode = msgspec.json.encode


def _json(v: Any) -> str | None:
    return None if v is None else _encode(v).decode()


def _fields(t: type) -> tuple[str, ...]:
    return t.__struct_fields__  # type: ignore[attr-defined, no-any-return]


def _cols(t: type, alias: str = "") -> str:
    return ", ".join(alias + f for f in _fields(t))


def _row(t: type, row: tuple[Any, ...]) -> Any:
    values = dict(zip(_fields(t), row, strict=True))
    if "disabled" in values:
        values["disabled"] = bool(values["disabled"])
    return t(**values)


def _public_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(**{f: getattr(row, f) for f in _fields(ApiKey)})


def _insert(conn: Conn, table: str, obj: Any, duplicate: str) -> None:
    names = _fields(type(obj))
    values = [int(v) if isinstance(v, bool) else v for v in (getattr(obj, n) for n in names)]
    try:
        conn.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", values)
    except IntegrityViolation:
        raise Conflict(duplicate) from None


def _get(conn: Conn, t: type, table: str, id: str, org_id: str | None = None) -> Any:
    if org_id is None or table == "orgs":
        row = conn.one(f"SELECT {_cols(t)} FROM {table} WHERE id = ?", (id,))
    else:
        row = conn.one(f"SELECT {_cols(t)} FROM {table} WHERE id = ? AND org_id = ?", (id, org_id))
    if row is None:
        raise NotFound(f"no {table[:-1].replace('_', ' ')} {id}")
    return _row(t, row)


def _list(conn: Conn, t: type, table: str, where: str, params: tuple[Any, ...], order: str) -> list[Any]:
    return [_row(t, r) for r in conn.all(f"SELECT {_cols(t)} FROM {table} WHERE {where} ORDER BY {order}", params)]


_decode_list = msgspec.json.Decoder(list[str] | None)


def _grants(conn: Conn, where: str, params: tuple[Any, ...]) -> list[Grant]:
    rows = conn.all(f"SELECT {_cols(Grant)} FROM grants WHERE {where} ORDER BY created_at, id", params)
    out = []
    for r in rows:
        v = dict(zip(_fields(Grant), r, strict=True))
        for f in ("models", "endpoints", "data_classes", "regions"):
            v[f] = _decode_list.decode(v[f]) if v[f] is not None else None
        out.append(Grant(**v))
    return out
