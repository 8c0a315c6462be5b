"""Paths, validation, organisation boundaries and hostile strings."""

from __future__ import annotations

import pytest

from tests.admin.support import Harness, World

A = "/admin/v1"


@pytest.mark.parametrize("path", [
    "//admin/v1/teams", "/admin/v1//teams", "/admin/v1/teams/", "/Admin/v1/teams", "/admin/V1/teams",
    "/admin/v1/TEAMS", "/admin/v1/./teams", "/admin/v1/teams/..", "/admin/v1/teams/%2E%2E",
    "/admin/v1/teams%2F", "/admin/v2/teams", "/admin/v1", "/admin/v1/", "/admin/v1/keys//rotate",
    "/admin/v1/teams/{team}/", "/admin/v1/teams/{team}%2Fmembers", "/admin/v1/teams/{team}/members/",
    "/admin/v1/teams/%7Bteam_id%7D", "/admin/v1/teams/a%00b", "/admin/v1/teams/{team}\n",
    "/admin/v1/users/{root}/../{root}",
])
async def test_path_tricks_are_404_and_reach_no_handler(h: Harness, world: World, path: str) -> None:
    r = await h.call(world.root, "GET", path.format(team=world.ml, root=world.root))
    assert r.status == 404 and r.error["code"] == "not_found"
    assert r.event.action == "unknown" and r.event.decision == "deny" and r.event.rule == "not_found"


async def test_wrong_method_is_405_with_allow(h: Harness, world: World) -> None:
    r = await h.call(world.root, "PUT", f"{A}/teams")
    assert r.status == 405 and r.headers["allow"] == "POST, GET"
    r = await h.call(world.root, "DELETE", f"{A}/teams/{world.ml}")
    assert r.status == 405 and r.headers["allow"] == "GET"


@pytest.mark.parametrize(("path", "body", "param", "says"), [
    ("teams", {"name": "x" * 201}, "name", "length <= 200"),
    ("teams", {"name": ""}, "name", "length >= 1"),
    ("teams", {}, "name", "missing required field"),
    ("teams", {"name": "t", "owner": "me"}, "owner", "unknown field"),
    ("teams", {"name": 5}, "name", "Expected `str`"),
    ("users", {"name": "u", "role": "superuser"}, "role", "Invalid enum value"),
    ("grants", {"subject_type": "team", "subject_id": "t", "models": ["m"] * 101, "endpoints": ["chat"]},
     "models", "length <= 100"),
    ("grants", {"subject_type": "team", "subject_id": "t", "models": ["a*b"], "endpoints": ["chat"]},
     "models[0]", "matching regex"),
    ("grants", {"subject_type": "team", "subject_id": "t", "models": ["m"], "endpoints": ["completions"]},
     "endpoints[0]", "Invalid enum value"),
    ("grants", {"subject_type": "team", "subject_id": "t", "models": ["m"], "endpoints": ["chat"], "max_tokens": 0},
     "max_tokens", ">= 1"),
    ("grants", {"subject_type": "team", "subject_id": "t", "models": [], "endpoints": ["chat"]},
     "models", "length >= 1"),
    ("grants", {"subject_type": "team", "subject_id": "t", "models": ["m", "m"], "endpoints": ["chat"]},
     "models", "twice"),
    ("keys", {"principal_id": "p", "name": "k", "expires_in_s": -5}, "expires_in_s", "> 0"),
    ("keys", {"principal_id": "p", "name": "k", "expires_in_s": 5, "expires_at": 2e9}, "expires_at", "not both"),
    ("agents", {"name": "a", "owner_id": "u", "purpose": "p", "on_behalf_of": "sometimes"}, "on_behalf_of", "enum"),
])
async def test_validation_errors_name_the_field(
    h: Harness, world: World, path: str, body: dict, param: str, says: str,  # type: ignore[type-arg]
) -> None:
    r = await h.call(world.root, "POST", f"{A}/{path}", body)
    assert r.status == 400, r.body
    assert r.error["param"] == param and says in r.error["message"]
    assert r.error["type"] == "invalid_request_error"
    assert r.event.decision == "deny" and r.event.rule == "invalid_request"
    assert h.changes == 0


async def test_malformed_bodies_and_queries(h: Harness, world: World) -> None:
    r = await h.call(world.root, "POST", f"{A}/teams", raw=b'{"name": "x"')
    assert r.status == 400 and "malformed JSON" in r.error["message"]
    r = await h.call(world.root, "POST", f"{A}/teams", raw=b'["x"]')
    assert r.status == 400 and "Expected `object`" in r.error["message"]
    r = await h.call(world.root, "POST", f"{A}/teams", raw=b'name=x', headers={"content-type": "text/plain"})
    assert r.status == 415
    r = await h.call(world.root, "POST", f"{A}/teams")
    assert r.status == 400 and r.error["param"] == "name"
    r = await h.call(world.root, "GET", f"{A}/teams", raw=b'{"name": "x"}')
    assert r.status == 400 and "takes no request body" in r.error["message"]
    r = await h.call(world.root, "GET", f"{A}/teams", query="limit=5")
    assert r.status == 400 and r.error["param"] == "limit"
    r = await h.call(world.root, "GET", f"{A}/audit", query="limit=abc")
    assert r.status == 400 and r.error["param"] == "limit"
    r = await h.call(world.root, "GET", f"{A}/audit", query="limit=5000")
    assert r.status == 400 and r.error["param"] == "limit"
    r = await h.call(world.root, "GET", f"{A}/audit", query="decision=maybe")
    assert r.status == 400 and r.error["param"] == "decision"
    r = await h.call(world.root, "GET", f"{A}/audit", query="since=yesterday")
    assert r.status == 400 and r.error["param"] == "since"
    r = await h.call(world.root, "GET", f"{A}/audit", query="since=nan")
    assert r.status == 400
    r = await h.call(world.root, "GET", f"{A}/audit", query="limit=1&limit=2")
    assert r.status == 400 and "repeated" in r.error["message"]
    r = await h.call(world.root, "GET", f"{A}/keys", query="principal_id")
    assert r.status == 400  # strict parsing: a bare name is not a parameter
    r = await h.call(world.root, "GET", f"{A}/keys", query="sort=name")
    assert r.status == 400 and r.error["param"] == "sort"
    r = await h.call(world.root, "PATCH", f"{A}/users/{world.dev}", {})
    assert r.status == 400 and "nothing to change" in r.error["message"]
    r = await h.call(world.root, "PATCH", f"{A}/users/{world.dev}", {"purpose": "x"})
    assert r.status == 400 and "agents only" in r.error["message"]
    r = await h.call(world.root, "POST", f"{A}/teams", {"name": "x" * 5000})
    assert r.status == 400 and len(r.error["message"]) <= 300


async def test_duplicate_names_conflict(h: Harness, world: World) -> None:
    r = await h.call(world.root, "POST", f"{A}/teams", {"name": "ml"})
    assert r.status == 409 and r.error["code"] == "conflict" and r.error["param"] == "name"
    r = await h.call(world.root, "POST", f"{A}/users", {"name": "dana"})
    assert r.status == 409
    # Names are unique per organisation and per kind, not globally.
    r = await h.call(world.stranger, "POST", f"{A}/teams", {"name": "ml"})
    assert r.status == 201
    r = await h.call(world.root, "POST", f"{A}/service-accounts", {"name": "dana"})
    assert r.status == 201


async def test_unknown_ids_are_404(h: Harness, world: World) -> None:
    for method, path, body in (
        ("GET", "teams/team_nope", None), ("GET", "teams/team_nope/members", None),
        ("POST", "teams/team_nope/members", {"principal_id": world.dev}),
        ("POST", f"teams/{world.ml}/members", {"principal_id": "usr_nope"}),
        ("DELETE", f"teams/{world.ml}/members/{world.webdev}", None),
        ("GET", "users/usr_nope", None), ("PATCH", "users/usr_nope", {"disabled": True}),
        ("GET", "keys/key_nope", None), ("POST", "keys/key_nope/rotate", None), ("POST", "keys/key_nope/revoke", None),
        ("POST", "keys", {"principal_id": "usr_nope", "name": "k"}),
        ("GET", "grants/grant_nope", None), ("DELETE", "grants/grant_nope", None),
        ("POST", "grants", {"subject_type": "team", "subject_id": "team_nope", "models": ["*"], "endpoints": ["chat"]}),
        ("POST", "agents", {"name": "a", "owner_id": "usr_nope", "purpose": "p"}),
    ):
        r = await h.call(world.root, method, f"{A}/{path}", body)
        assert r.status == 404, (method, path, r.body)
        assert r.error["code"] == "not_found"
    assert h.changes == 0


async def test_another_organisations_objects_are_404_never_403(h: Harness, world: World) -> None:
    key = (await h.call(world.root, "POST", f"{A}/keys", {"principal_id": world.dev, "name": "k"})).json["id"]
    for method, path, body in (
        ("GET", f"teams/{world.ml}", None),
        ("GET", f"teams/{world.ml}/members", None),
        ("POST", f"teams/{world.ml}/members", {"principal_id": world.far_user}),
        ("POST", f"teams/{world.far_team}/members", {"principal_id": world.dev}),
        ("DELETE", f"teams/{world.ml}/members/{world.dev}", None),
        ("GET", f"users/{world.dev}", None),
        ("PATCH", f"users/{world.dev}", {"role": "org_admin"}),
        ("GET", f"keys/{key}", None),
        ("POST", f"keys/{key}/rotate", None),
        ("POST", f"keys/{key}/revoke", None),
        ("POST", "keys", {"principal_id": world.dev, "name": "stolen"}),
        ("GET", f"grants/{world.ml_grant}", None),
        ("DELETE", f"grants/{world.ml_grant}", None),
        ("POST", "grants", {"subject_type": "principal", "subject_id": world.dev, "models": ["*"],
                            "endpoints": ["chat"]}),
        ("POST", "agents", {"name": "spy", "owner_id": world.dev, "purpose": "p"}),
    ):
        r = await h.call(world.stranger, method, f"{A}/{path}", body)
        assert r.status == 404, (method, path, r.body)
    for path in ("teams", "users", "keys", "grants", "agents"):
        r = await h.call(world.stranger, "GET", f"{A}/{path}")
        ids = {o["id"] for o in r.json["data"]}
        assert ids <= {world.far_team, world.far_user, world.stranger}, path
    r = await h.call(world.stranger, "GET", f"{A}/keys", query=f"principal_id={world.dev}")
    assert r.json["data"] == []


INJECTIONS = ["x'); DROP TABLE teams;--", "' OR '1'='1", "\"; DELETE FROM api_keys; --", "semi;colon?",
              "Robert'); DROP TABLE principals;-- ☃", "%27%20OR%201=1", "../../etc/passwd"]


async def test_sql_injection_strings_are_stored_verbatim_or_404(h: Harness, world: World) -> None:
    for s in INJECTIONS:
        r = await h.call(world.root, "POST", f"{A}/teams", {"name": s})
        assert r.status == 201 and r.json["name"] == s
        r = await h.call(world.root, "GET", f"{A}/teams/{r.json['id']}")
        assert r.json["name"] == s
        r = await h.call(world.root, "POST", f"{A}/service-accounts", {"name": s})
        assert r.status == 201 and r.json["name"] == s
        svc = r.json["id"]
        r = await h.call(world.root, "POST", f"{A}/keys", {"principal_id": svc, "name": s})
        assert r.status == 201 and r.json["name"] == s
        for body in ({"principal_id": s, "name": "k"},):
            r = await h.call(world.root, "POST", f"{A}/keys", body)
            assert r.status in (400, 404)
        r = await h.call(world.root, "GET", f"{A}/keys", query="principal_id=" + s.replace("%", "%25")
                         .replace("&", "%26").replace(" ", "%20").replace("#", "%23"))
        assert r.status == 200 and r.json["data"] == []
        r = await h.call(world.root, "GET", f"{A}/grants", query="subject_id=%27%20OR%20%271%27%3D%271")
        assert r.status == 200 and r.json["data"] == []
    r = await h.call(world.root, "GET", f"{A}/teams")
    assert {s for s in INJECTIONS} <= {t["name"] for t in r.json["data"]}
    assert {"ml", "web"} <= {t["name"] for t in r.json["data"]}  # nothing was dropped
    r = await h.call(world.root, "GET", f"{A}/teams/%27%20OR%20%271%27%3D%271")
    assert r.status == 404 and r.event.action == "unknown"


async def test_control_characters_are_refused_on_both_stores(h: Harness, world: World) -> None:
    # PostgreSQL cannot store NUL: refused as input, never a 503 from the store.
    for name in ("nul\u0000byte", "line\nbreak", "esc\u001b[31m"):
        r = await h.call(world.root, "POST", f"{A}/teams", {"name": name})
        assert r.status == 400 and r.error["param"] == "name"
    r = await h.call(world.root, "GET", f"{A}/keys", query="principal_id=a%00b")
    assert r.status == 400 and r.error["param"] == "principal_id"
    r = await h.call(world.root, "POST", f"{A}/agents", {"name": "a", "owner_id": world.dev,
                                                          "purpose": "reads tickets\n\tand labels them"})
    assert r.status == 201
