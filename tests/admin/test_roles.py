"""Each admin role's allowed and denied operations, against real stores."""

from __future__ import annotations

import pytest

from switchgear.admin.api import ROUTES
from tests.admin.support import Harness, World

A = "/admin/v1"


def concrete(template: str, **ids: str) -> str:
    path = template
    for name in ("team_id", "principal_id", "key_id", "grant_id"):
        path = path.replace("{" + name + "}", ids.get(name, "x_unknown"))
    return path


async def test_org_admin_manages_the_whole_lifecycle(h: Harness, world: World) -> None:
    r = await h.call(world.root, "POST", f"{A}/teams", {"name": "research"})
    assert r.status == 201 and r.event.rule == "org_admin" and r.event.target == r.json["id"]
    team = r.json["id"]
    r = await h.call(world.root, "POST", f"{A}/users", {"name": "ana", "email": "ana@acme.test"})
    assert r.status == 201 and r.json["kind"] == "user"
    ana = r.json["id"]
    r = await h.call(world.root, "POST", f"{A}/teams/{team}/members", {"principal_id": ana, "role": "team_admin"})
    assert r.status == 201 and r.json == {"team_id": team, "principal_id": ana, "role": "team_admin"}
    r = await h.call(world.root, "POST", f"{A}/grants", {"subject_type": "team", "subject_id": team,
                                                          "models": ["anthropic/*"], "endpoints": ["messages"]})
    assert r.status == 201 and r.json["created_by"] == world.root
    grant = r.json["id"]
    r = await h.call(world.root, "POST", f"{A}/keys", {"principal_id": ana, "name": "laptop", "expires_in_s": 86400})
    assert r.status == 201 and r.json["key"].startswith(r.json["prefix"] + "_")
    key = r.json["id"]
    r = await h.call(world.root, "POST", f"{A}/keys/{key}/rotate", {"overlap_s": 3600})
    assert r.status == 201 and r.json["rotated_from"] == key and r.json["previous"]["id"] == key
    r = await h.call(world.root, "POST", f"{A}/keys/{r.json['id']}/revoke")
    assert r.status == 200 and r.json["revoked_at"] is not None
    r = await h.call(world.root, "PATCH", f"{A}/users/{ana}", {"role": "viewer"})
    assert r.status == 200 and r.json["role"] == "viewer"
    r = await h.call(world.root, "DELETE", f"{A}/grants/{grant}")
    assert r.status == 204 and r.body == b""
    r = await h.call(world.root, "DELETE", f"{A}/teams/{team}/members/{ana}")
    assert r.status == 204
    r = await h.call(world.root, "GET", f"{A}/teams/{team}/members")
    assert r.status == 200 and r.json["data"] == []
    assert h.changes == 10  # every successful change, and nothing else, refreshed the snapshot


async def test_org_admin_creates_agents_and_service_accounts(h: Harness, world: World) -> None:
    r = await h.call(world.root, "POST", f"{A}/agents", {"name": "summariser", "owner_id": world.dev,
                                                          "purpose": "summarise tickets", "on_behalf_of": "required"})
    assert r.status == 201 and r.json["on_behalf_of"] == "required" and r.json["owner_id"] == world.dev
    agent = r.json["id"]
    r = await h.call(world.root, "PATCH", f"{A}/agents/{agent}", {"purpose": "summarise and label tickets"})
    assert r.status == 200 and r.json["purpose"] == "summarise and label tickets"
    r = await h.call(world.root, "PATCH", f"{A}/agents/{agent}", {"role": "org_admin"})
    assert r.status == 400 and "admin role" in r.error["message"]
    r = await h.call(world.root, "POST", f"{A}/agents", {"name": "x", "owner_id": world.app, "purpose": "p"})
    assert r.status == 400 and "must be a user" in r.error["message"]
    r = await h.call(world.root, "POST", f"{A}/service-accounts", {"name": "etl"})
    assert r.status == 201 and r.json["kind"] == "service_account"
    r = await h.call(world.root, "GET", f"{A}/agents")
    assert {p["name"] for p in r.json["data"]} == {"bot", "summariser"}
    # /users/{id} names users only: an agent id there is unknown.
    r = await h.call(world.root, "GET", f"{A}/users/{agent}")
    assert r.status == 404


async def test_viewer_reads_but_never_changes_nor_reads_the_record(h: Harness, world: World) -> None:
    for path in ("teams", f"teams/{world.ml}", f"teams/{world.ml}/members", "users", f"users/{world.dev}",
                 "service-accounts", "agents", "keys", "grants", f"grants/{world.ml_grant}", "whoami",
                 "openapi.json"):
        r = await h.call(world.viewer, "GET", f"{A}/{path}")
        assert r.status == 200, (path, r.body)
        assert r.event.rule == "viewer"
    for method, path, body in (
        ("POST", "teams", {"name": "t"}),
        ("POST", "users", {"name": "u"}),
        ("PATCH", f"users/{world.viewer}", {"role": "org_admin"}),
        ("POST", "keys", {"principal_id": world.viewer, "name": "k"}),
        ("POST", "grants", {"subject_type": "team", "subject_id": world.ml, "models": ["*"], "endpoints": ["chat"]}),
        ("DELETE", f"grants/{world.ml_grant}", None),
        ("GET", "audit", None),
        ("GET", "access-review", None),
    ):
        r = await h.call(world.viewer, method, f"{A}/{path}", body)
        assert r.status == 403, (method, path, r.body)
        assert r.error["code"] == "permission_denied" and r.error["type"] == "permission_error"
        assert "requires role" in r.error["message"] and "caller holds viewer" in r.error["message"]
        assert r.event.decision == "deny" and r.event.rule == "permission_denied"
    assert h.changes == 0


async def test_auditor_reads_the_record_only(h: Harness, world: World) -> None:
    for path in ("audit", "audit/verify", "access-review", "whoami", "openapi.json"):
        r = await h.call(world.auditor, "GET", f"{A}/{path}")
        assert r.status == 200, (path, r.body)
    r = await h.call(world.auditor, "GET", f"{A}/audit/export")
    assert r.status == 200 and r.headers["content-type"] == "application/x-ndjson"
    for method, path in (("GET", "teams"), ("GET", "keys"), ("GET", "grants"), ("POST", "teams")):
        r = await h.call(world.auditor, method, f"{A}/{path}", {"name": "x"} if method == "POST" else None)
        assert r.status == 403
        assert "requires role org_admin" in r.error["message"]


@pytest.mark.parametrize("who", ["app", "bot", "dev"])
async def test_no_admin_role_reaches_no_admin_route(h: Harness, world: World, who: str) -> None:
    """A data-plane key (service account, agent, plain member) is refused everywhere —
    including whoami and the OpenAPI document — before any input is looked at."""
    caller = await h.as_(getattr(world, who))
    for route in ROUTES:
        path = concrete(route.template, team_id=world.ml, principal_id=world.dev, grant_id=world.ml_grant)
        r = await h.call(caller, route.method, path, raw=b"{not json" if route.body else b"")
        assert r.status == 403, (route.method, path, r.body)
        assert "caller holds no admin role" in r.error["message"]
        assert r.event.action == route.action and r.event.decision == "deny"
    assert h.changes == 0


async def test_whoami_reports_roles_and_actions(h: Harness, world: World) -> None:
    r = await h.call(world.lead, "GET", f"{A}/whoami")
    assert r.status == 200
    assert r.json["team_admin_of"] == [world.ml] and r.json["role"] is None
    assert "keys.create" in r.json["actions"] and "audit.query" not in r.json["actions"]
    r = await h.call(world.auditor, "GET", f"{A}/whoami")
    assert r.json["role"] == "auditor" and "audit.query" in r.json["actions"] and "keys.list" not in r.json["actions"]


async def test_the_last_org_admin_cannot_be_demoted_or_disabled(h: Harness, world: World) -> None:
    r = await h.call(world.root, "PATCH", f"{A}/users/{world.root}", {"role": None})
    assert r.status == 409 and "last enabled org_admin" in r.error["message"]
    r = await h.call(world.root, "PATCH", f"{A}/users/{world.root}", {"disabled": True})
    assert r.status == 409
    r = await h.call(world.root, "PATCH", f"{A}/users/{world.dev}", {"role": "org_admin"})
    assert r.status == 200
    r = await h.call(world.root, "PATCH", f"{A}/users/{world.root}", {"role": None})
    assert r.status == 200 and r.json["role"] is None
