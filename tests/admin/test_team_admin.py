"""A team admin manages their own teams, never beyond the team's rights, never roles."""

from __future__ import annotations

from typing import Any

from tests.admin.support import Harness, World

A = "/admin/v1"


async def test_team_admin_reads_only_their_teams_objects(h: Harness, world: World) -> None:
    r = await h.call(world.lead, "GET", f"{A}/teams")
    assert [t["id"] for t in r.json["data"]] == [world.ml] and r.event.rule == "team_admin"
    r = await h.call(world.lead, "GET", f"{A}/users")
    assert {p["id"] for p in r.json["data"]} == {world.lead, world.dev, world.both}
    r = await h.call(world.lead, "GET", f"{A}/agents")
    assert [p["id"] for p in r.json["data"]] == [world.bot]
    r = await h.call(world.lead, "GET", f"{A}/grants")
    assert [g["id"] for g in r.json["data"]] == [world.ml_grant]
    r = await h.call(world.lead, "GET", f"{A}/teams/{world.web}")
    assert r.status == 403 and f"team_admin of team {world.web}" in r.error["message"]
    r = await h.call(world.lead, "GET", f"{A}/teams/{world.web}/members")
    assert r.status == 403
    r = await h.call(world.lead, "GET", f"{A}/users/{world.webdev}")
    assert r.status == 403 and "requires role org_admin or team_admin of a team" in r.error["message"]
    r = await h.call(world.lead, "GET", f"{A}/grants/{world.web_grant}")
    assert r.status == 403


async def test_team_admin_manages_plain_members_of_their_team_only(h: Harness, world: World) -> None:
    r = await h.call(world.lead, "POST", f"{A}/teams/{world.ml}/members", {"principal_id": world.webdev})
    assert r.status == 201 and r.json["role"] == "member"
    r = await h.call(world.lead, "DELETE", f"{A}/teams/{world.ml}/members/{world.webdev}")
    assert r.status == 204
    r = await h.call(world.lead, "POST", f"{A}/teams/{world.web}/members", {"principal_id": world.dev})
    assert r.status == 403 and f"team_admin of team {world.web}" in r.error["message"]
    r = await h.call(world.lead, "DELETE", f"{A}/teams/{world.web}/members/{world.webdev}")
    assert r.status == 403
    assert h.changes == 2


async def test_team_admin_cannot_set_roles(h: Harness, world: World) -> None:
    # Not a team role: neither making a team admin, nor demoting one by re-adding, nor removing one.
    r = await h.call(world.lead, "POST", f"{A}/teams/{world.ml}/members",
                     {"principal_id": world.dev, "role": "team_admin"})
    assert r.status == 403 and "requires role org_admin" in r.error["message"]
    r = await h.call(world.root, "POST", f"{A}/teams/{world.ml}/members",
                     {"principal_id": world.both, "role": "team_admin"})
    assert r.status == 201
    r = await h.call(world.lead, "POST", f"{A}/teams/{world.ml}/members", {"principal_id": world.both})
    assert r.status == 403
    r = await h.call(world.lead, "DELETE", f"{A}/teams/{world.ml}/members/{world.both}")
    assert r.status == 403
    # Nor an org role.
    r = await h.call(world.lead, "PATCH", f"{A}/users/{world.dev}", {"role": "org_admin"})
    assert r.status == 403 and "users.update requires role org_admin" in r.error["message"]
    r = await h.call(world.lead, "PATCH", f"{A}/users/{world.lead}", {"role": "org_admin"})
    assert r.status == 403
    r = await h.call(world.lead, "POST", f"{A}/users", {"name": "mallory", "role": "org_admin"})
    assert r.status == 403


async def test_an_agent_cannot_be_made_a_team_admin(h: Harness, world: World) -> None:
    r = await h.call(world.root, "POST", f"{A}/teams/{world.ml}/members",
                     {"principal_id": world.bot, "role": "team_admin"})
    assert r.status == 400 and r.error["param"] == "role"


async def test_team_admin_keys_only_for_principals_wholly_in_their_teams(h: Harness, world: World) -> None:
    r = await h.call(world.lead, "POST", f"{A}/keys", {"principal_id": world.dev, "name": "ci"})
    assert r.status == 201 and r.json["created_by"] == world.lead
    key = r.json["id"]
    r = await h.call(world.lead, "POST", f"{A}/keys", {"principal_id": world.bot, "name": "bot"})
    assert r.status == 201
    r = await h.call(world.lead, "POST", f"{A}/keys/{key}/rotate", {"overlap_s": 60})
    assert r.status == 201
    r = await h.call(world.lead, "POST", f"{A}/keys/{r.json['id']}/revoke")
    assert r.status == 200
    r = await h.call(world.lead, "GET", f"{A}/keys")
    assert {k["principal_id"] for k in r.json["data"]} == {world.dev, world.bot}

    # A member of another team too: the key would carry that team's rights.
    r = await h.call(world.lead, "POST", f"{A}/keys", {"principal_id": world.both, "name": "x"})
    assert r.status == 403 and f"also in {world.web}" in r.error["message"]
    # Not in their teams at all.
    r = await h.call(world.lead, "POST", f"{A}/keys", {"principal_id": world.webdev, "name": "x"})
    assert r.status == 403
    # Holding an org role (here: an org admin added to the team).
    await h.call(world.root, "POST", f"{A}/teams/{world.ml}/members", {"principal_id": world.root})
    r = await h.call(world.lead, "POST", f"{A}/keys", {"principal_id": world.root, "name": "x"})
    assert r.status == 403 and "holds org role org_admin" in r.error["message"]
    r = await h.call(world.root, "POST", f"{A}/keys", {"principal_id": world.root, "name": "own"})
    root_key = r.json["id"]
    for action in ("rotate", "revoke"):
        r = await h.call(world.lead, "POST", f"{A}/keys/{root_key}/{action}")
        assert r.status == 403, action
    r = await h.call(world.lead, "GET", f"{A}/keys/{root_key}")
    assert r.status == 200  # the org admin is a member of ml now: readable, not manageable


async def test_team_admin_cannot_mint_a_key_carrying_a_personal_grant_beyond_the_team(
    h: Harness, world: World,
) -> None:
    r = await h.call(world.root, "POST", f"{A}/grants", {"subject_type": "principal", "subject_id": world.dev,
                                                          "models": ["gpt-5"], "endpoints": ["chat"]})
    assert r.status == 201
    r = await h.call(world.lead, "POST", f"{A}/keys", {"principal_id": world.dev, "name": "x"})
    assert r.status == 403 and "model 'gpt-5' on endpoint 'chat'" in r.error["message"]


async def test_team_admin_grants_never_exceed_the_teams_own(h: Harness, world: World) -> None:
    # ml holds: openai/* and gpt-4o on chat and embeddings, max_tokens 4000.
    ok = [
        {"models": ["openai/gpt-4o-mini"], "endpoints": ["chat"], "max_tokens": 1000},
        {"models": ["openai/o*"], "endpoints": ["chat", "embeddings"], "max_tokens": 4000},
        {"models": ["gpt-4o"], "endpoints": ["embeddings"], "max_tokens": 10, "regions": ["eu"]},
    ]
    for grant in ok:
        r = await h.call(world.lead, "POST", f"{A}/grants", {"subject_type": "principal", "subject_id": world.dev,
                                                              **grant})
        assert r.status == 201, (grant, r.body)
    r = await h.call(world.lead, "POST", f"{A}/grants", {"subject_type": "team", "subject_id": world.ml,
                                                          "models": ["openai/*"], "endpoints": ["chat"],
                                                          "max_tokens": 4000})
    assert r.status == 201
    too_much: list[tuple[dict[str, Any], str]] = [
        ({"models": ["*"], "endpoints": ["chat"], "max_tokens": 10}, "model '*'"),
        ({"models": ["anthropic/claude"], "endpoints": ["chat"], "max_tokens": 10}, "model 'anthropic/claude'"),
        ({"models": ["openai/x"], "endpoints": ["messages"], "max_tokens": 10}, "endpoint 'messages'"),
        ({"models": ["openai/x"], "endpoints": ["chat"], "max_tokens": 4001}, "max_tokens 4001"),
        ({"models": ["openai/x"], "endpoints": ["chat"]}, "without a max_tokens limit"),
        ({"models": ["gpt-4o*"], "endpoints": ["chat"], "max_tokens": 10}, "model 'gpt-4o*'"),
        ({"models": ["open*"], "endpoints": ["chat"], "max_tokens": 10}, "model 'open*'"),
    ]
    for grant, named in too_much:
        r = await h.call(world.lead, "POST", f"{A}/grants", {"subject_type": "principal", "subject_id": world.dev,
                                                              **grant})
        assert r.status == 403, grant
        assert named in r.error["message"] and f"grant of team {world.ml}" in r.error["message"]
    # Subjects outside their teams, whatever the models.
    for subject in ({"subject_type": "team", "subject_id": world.web},
                    {"subject_type": "principal", "subject_id": world.webdev}):
        r = await h.call(world.lead, "POST", f"{A}/grants", {**subject, "models": ["openai/x"],
                                                              "endpoints": ["chat"], "max_tokens": 1})
        assert r.status == 403
    # Deleting: their team's and members' grants, not another team's.
    r = await h.call(world.lead, "DELETE", f"{A}/grants/{world.web_grant}")
    assert r.status == 403
    r = await h.call(world.lead, "DELETE", f"{A}/grants/{world.ml_grant}")
    assert r.status == 204
