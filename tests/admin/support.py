"""What the admin API tests share: a populated store, an audit record over a list, and a
harness that calls AdminApi.handle, checks the one-audit-event rule on every call and
validates every JSON response against the API's own OpenAPI document."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jsonschema
import msgspec
import referencing
from referencing.jsonschema import DRAFT202012

from switchgear.admin import api as admin_api
from switchgear.admin import openapi
from switchgear.admin.api import AdminApi, AdminEvent
from switchgear.admin.router import NoRoute, WrongMethod
from switchgear.admin.schemas import AuditFilter
from switchgear.identity import repository as repo
from switchgear.identity.principal import Principal
from switchgear.store.database import Database

DOC_URI = "urn:switchgear:admin-openapi"


# ---- the audit record, in memory ----------------------------------------------------------


class MemoryRecords:
    """A real (if small) AuditRecords: entries in a list, filtered as the store would."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.entries: list[dict[str, Any]] = []
        self.usage: dict[str, tuple[list[str], list[str], float]] = {}  # key id -> models, endpoints, last use

    def append(self, e: AdminEvent) -> None:
        p = e.principal
        self.entries.append({
            "seq": len(self.entries) + 1, "ts": time.time(), "kind": "admin", "org_id": p.org_id,
            "principal_id": p.id, "credential_id": p.key_id, "agent_id": p.id if p.kind == "agent" else None,
            "action": e.action, "decision": e.decision, "rule": e.rule, "target": e.target, "status": e.status,
            "details": e.details,
        })

    def _select(self, f: AuditFilter) -> list[dict[str, Any]]:
        out = []
        for e in self.entries:
            if e["org_id"] != f.org_id:
                continue
            if f.since is not None and e["ts"] < f.since or f.until is not None and e["ts"] >= f.until:
                continue
            if f.after_seq is not None and e["seq"] <= f.after_seq:
                continue
            if any(getattr(f, k) is not None and e[k] != getattr(f, k)
                   for k in ("principal_id", "credential_id", "agent_id", "action", "decision")):
                continue
            out.append(e)
        return out if f.limit is None else out[: f.limit]

    async def query(self, filters: AuditFilter) -> list[dict[str, Any]]:
        return self._select(filters)

    async def export(self, filters: AuditFilter) -> bytes:
        return b"".join(msgspec.json.encode(e) + b"\n" for e in self._select(filters))

    async def verify(self) -> dict[str, Any]:
        ok = [e["seq"] for e in self.entries] == list(range(1, len(self.entries) + 1))
        return {"ok": ok, "entries": len(self.entries)}

    async def access_review(self, org_id: str, window_days: int, unused_days: int) -> dict[str, Any]:
        def read(conn):  # type: ignore[no-untyped-def]
            keys = repo.list_keys(conn, org_id)
            principals = {p.id: p for p in repo.list_principals(conn, org_id)}
            grants = repo.list_grants(conn, org_id)
            members = {t.id: [m.principal_id for m in repo.list_members(conn, org_id, t.id)]
                       for t in repo.list_teams(conn, org_id)}
            return keys, principals, grants, members

        keys, principals, grants, members = await self.db.run(read)
        now = time.time()
        entries = []
        for k in keys:
            p = principals[k.principal_id]
            mine = [g for g in grants if g.subject_id == p.id or p.id in members.get(g.subject_id, ())]
            models, endpoints, last = self.usage.get(k.id, ([], [], None))  # type: ignore[arg-type]
            entries.append({
                "credential_id": k.prefix, "key_id": k.id, "principal_id": p.id, "principal_kind": p.kind,
                "principal_name": p.name, "granted_models": sorted({m for g in mine for m in g.models}),
                "granted_endpoints": sorted({e for g in mine for e in g.endpoints}), "used_models": models,
                "used_endpoints": endpoints, "last_used_at": last,
                "unused": last is None or last < now - unused_days * 86400, "expires_at": k.expires_at,
            })
        return {"org_id": org_id, "generated_at": now, "window_days": window_days, "unused_days": unused_days,
                "entries": entries}


# ---- principals as the gateway would build them ------------------------------------------------


def principal_from(snap: repo.Snapshot, principal_id: str, key_id: str = "sk-sg-testkey0") -> Principal:
    p = next(x for x in snap.principals if x.id == principal_id)
    mine = [m for m in snap.members if m.principal_id == p.id]
    return Principal(
        id=p.id, kind=p.kind, name=p.name, key_id=key_id, org_id=p.org_id, role=p.role,
        teams=frozenset(m.team_id for m in mine),
        team_admin_of=frozenset(m.team_id for m in mine if m.role == "team_admin"),
        on_behalf_of=p.on_behalf_of, owner_id=p.owner_id,
    )


# ---- the OpenAPI document as a validator ---------------------------------------------------------


@cache
def doc() -> dict[str, Any]:
    return openapi.document(admin_api.ROUTES)


@cache
def _registry() -> referencing.Registry:
    return referencing.Registry().with_resource(
        DOC_URI, referencing.Resource.from_contents(doc(), default_specification=DRAFT202012))


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def response_pointer(template: str | None, method: str, status: int, media: str) -> str:
    """The JSON pointer (in the document) of the schema a response must match."""
    if template is None:  # no route: the error envelope
        return "/components/schemas/ErrorResponse"
    responses = doc()["paths"][template][method.lower()]["responses"]
    entry = responses.get(str(status)) or responses["default"]
    if "$ref" in entry:
        base = entry["$ref"].removeprefix("#")
        entry = doc()["components"]["responses"][base.rsplit("/", 1)[1]]
    else:
        base = f"/paths/{_escape(template)}/{method.lower()}/responses/{status}"
    assert media in entry["content"], f"{method} {template} {status}: {media} not documented"
    return f"{base}/content/{_escape(media)}/schema"


def assert_matches_document(template: str | None, method: str, status: int, media: str, body: Any) -> None:
    pointer = response_pointer(template, method, status, media)
    validator = jsonschema.Draft202012Validator({"$ref": f"{DOC_URI}#{pointer}"}, registry=_registry())
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{method} {template} {status} does not match {pointer}: {[e.message for e in errors]}"


# ---- the harness ----------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    event: AdminEvent

    @property
    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    @property
    def error(self) -> dict[str, Any]:
        return self.json["error"]  # type: ignore[no-any-return]


@dataclass
class Harness:
    db: Database
    records: MemoryRecords | None
    events: list[AdminEvent] = field(default_factory=list)
    changes: int = 0
    api: AdminApi = field(init=False)

    def __post_init__(self) -> None:
        async def changed() -> None:
            self.changes += 1

        def audit(e: AdminEvent) -> None:
            self.events.append(e)
            if self.records is not None:
                self.records.append(e)

        self.api = AdminApi(self.db, audit, changed, self.records)

    async def as_(self, principal_id: str, key_id: str = "sk-sg-testkey0") -> Principal:
        # Fresh from the store each time, as the gateway's snapshot is after on_change().
        return principal_from(await self.db.run(repo.load_snapshot), principal_id, key_id)

    async def call(
        self, who: str | Principal, method: str, path: str, body: Any = None, *, query: str = "",
        raw: bytes | None = None, headers: dict[str, str] | None = None,
    ) -> Reply:
        principal = who if isinstance(who, Principal) else await self.as_(who)
        if raw is None:
            raw = b"" if body is None else msgspec.json.encode(body)
        hdrs = {"content-type": "application/json"} if raw else {}
        hdrs.update(headers or {})
        before = len(self.events)
        status, out_headers, out = await self.api.handle(method, path, query, hdrs, raw, principal)
        assert len(self.events) == before + 1, f"{method} {path}: {len(self.events) - before} audit events"
        event = self.events[-1]
        assert event.status == status and event.principal is principal
        assert event.decision == ("allow" if status < 400 else "deny")
        h = dict(out_headers)
        assert h.get("cache-control") == "no-store"
        try:
            template: str | None = self.api.router.match(method, path).route.template
        except (NoRoute, WrongMethod):
            template = None
        media = h.get("content-type", "")
        if status != 204 and media == "application/json":
            assert_matches_document(template, method, status, media, msgspec.json.decode(out))
        elif status != 204:
            response_pointer(template, method, status, media)  # documented, at least
        return Reply(status, h, out, event)


# ---- a populated store ------------------------------------------------------------------------------


@dataclass
class World:
    org: str
    other_org: str
    ml: str  # team: lead is its team_admin, dev a member
    web: str  # team lead does not run
    root: str  # org_admin
    auditor: str
    viewer: str
    lead: str  # team_admin of ml (no org role)
    dev: str  # member of ml
    both: str  # member of ml and web
    webdev: str  # member of web only
    app: str  # service account, no role: a data-plane caller
    bot: str  # agent owned by dev, member of ml
    stranger: str  # org_admin of the other org
    far_team: str  # a team of the other org
    far_user: str  # a user of the other org
    ml_grant: str
    web_grant: str


async def populate(db: Database) -> World:
    def tx(conn):  # type: ignore[no-untyped-def]
        org = repo.create_org(conn, "acme")
        other = repo.create_org(conn, "globex")
        ml = repo.create_team(conn, org.id, "ml")
        web = repo.create_team(conn, org.id, "web")

        def user(name: str, role: Any = None, org_id: str = org.id) -> str:
            return repo.create_principal(conn, org_id, "user", name, role=role).id

        w: dict[str, str] = {
            "org": org.id, "other_org": other.id, "ml": ml.id, "web": web.id, "root": user("root", "org_admin"),
            "auditor": user("audrey", "auditor"), "viewer": user("vic", "viewer"), "lead": user("lee"),
            "dev": user("dana"), "both": user("bo"), "webdev": user("wes"),
            "app": repo.create_principal(conn, org.id, "service_account", "app").id,
            "stranger": user("sam", "org_admin", other.id),
        }
        w["bot"] = repo.create_principal(conn, org.id, "agent", "bot", owner_id=w["dev"], purpose="triage").id
        far = repo.create_team(conn, other.id, "far")
        w["far_team"] = far.id
        w["far_user"] = user("fay", None, other.id)
        repo.add_member(conn, org.id, ml.id, w["lead"], "team_admin")
        for p in ("dev", "both", "bot"):
            repo.add_member(conn, org.id, ml.id, w[p])
        for p in ("both", "webdev"):
            repo.add_member(conn, org.id, web.id, w[p])
        w["ml_grant"] = repo.create_grant(conn, org.id, "team", ml.id, models=["openai/*", "gpt-4o"],
                                          endpoints=["chat", "embeddings"], max_tokens=4000).id
        w["web_grant"] = repo.create_grant(conn, org.id, "team", web.id, models=["*"], endpoints=["chat"]).id
        return World(**w)

    return await db.run(tx)
