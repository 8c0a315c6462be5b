"""GET /admin/v1/spend and `switchgear spend` (both stores): who reads which spend, the
input checks, and the CLI's table against a live server."""

from __future__ import annotations

import json
import time
from datetime import UTC
from typing import Any

import pytest

from switchgear.identity import repository as repo
from switchgear.spend import ledger
from switchgear.spend.record import SpendRecord
from switchgear.store.database import Database
from tests.admin.support import Harness, World
from tests.admin.test_cli import gateway, run  # noqa: F401 - the live-server fixture, shared

A = "/admin/v1"
NOW = time.time()
DAY = 86_400.0


def spend(world: World, n: int, principal: str, team: str | None, cost: int, *, kind: str = "user",
          org: str | None = None, model: str = "gpt-4o", user: str | None = None, ago_s: float = 3600.0,
          **kw: Any) -> SpendRecord:
    return SpendRecord(
        ts=NOW - ago_s, request_id=f"req_{n}", org_id=org or world.org, principal_id=principal,
        principal_kind=kind, credential_id=f"sk-sg-{principal[-8:]}", agent_id=principal if kind == "agent" else None,
        user_id=user or (principal if kind == "user" else None), team_id=team, model=model,
        provider="anthropic" if model.startswith("claude") else "openai", deployment="d1",
        input_tokens=10 * n, output_tokens=n, cost_nano=cost, **kw,
    )


@pytest.fixture
async def ledger_rows(db: Database, world: World) -> list[SpendRecord]:
    w = world
    records = [
        spend(w, 1, w.dev, w.ml, 2_000_000_000),
        spend(w, 2, w.dev, w.ml, 500, model="claude-sonnet"),
        spend(w, 3, w.bot, w.ml, 300, kind="agent", user=w.dev, estimated=True),  # on behalf of dev
        spend(w, 4, w.webdev, w.web, 7_000),
        spend(w, 5, w.both, w.web, 0, cached=True, cached_input_tokens=5),
        spend(w, 6, w.app, None, 50, kind="service_account"),
        spend(w, 7, w.far_user, w.far_team, 1_000_000_000, org=w.other_org),  # another organisation
        spend(w, 8, w.dev, w.ml, 123, ago_s=40 * DAY),  # before the default 30-day window
    ]
    await db.run(ledger.insert, records, UTC)
    return records


def by_key(reply: Any) -> dict[Any, int]:
    return {r["key"]: r["cost_nano"] for r in reply.json["data"]}


async def test_org_roles_read_the_whole_organisations_spend(
    h: Harness, world: World, ledger_rows: list[SpendRecord],
) -> None:
    for who, role in ((world.root, "org_admin"), (world.auditor, "auditor"), (world.viewer, "viewer")):
        r = await h.call(who, "GET", f"{A}/spend", query="group_by=team")
        assert r.status == 200 and r.event.rule == role and r.event.action == "spend.query"
        assert r.json["object"] == "list" and r.json["group_by"] == "team"
        assert by_key(r) == {world.ml: 2_000_000_800, world.web: 7_000, None: 50}
        assert list(by_key(r)) == [world.ml, world.web, None]  # highest cost first
        total = r.json["total"]
        assert total["requests"] == 6 and total["cost_nano"] == 2_000_007_850
        assert total["cost_usd"] == pytest.approx(2.00000785)
        assert (total["estimated_requests"], total["cached_requests"], total["cached_input_tokens"]) == (1, 1, 5)
        assert abs(r.json["until"] - time.time()) < 60 and r.json["until"] - r.json["since"] == pytest.approx(30 * DAY)
        assert r.event.details["query"]["group_by"] == "team"  # the audit event names what was read


async def test_a_team_admin_reads_only_spend_charged_to_their_teams(
    h: Harness, world: World, ledger_rows: list[SpendRecord],
) -> None:
    r = await h.call(world.lead, "GET", f"{A}/spend", query="group_by=team")
    assert r.status == 200 and r.event.rule == "team_admin"
    assert by_key(r) == {world.ml: 2_000_000_800}
    assert r.json["total"]["requests"] == 3 and r.json["total"]["cost_nano"] == 2_000_000_800
    r = await h.call(world.lead, "GET", f"{A}/spend", query="group_by=user")
    assert by_key(r) == {world.dev: 2_000_000_800}  # the agent's request is charged to its user
    r = await h.call(world.lead, "GET", f"{A}/spend", query="group_by=key")
    assert set(by_key(r)) == {f"sk-sg-{world.dev[-8:]}", f"sk-sg-{world.bot[-8:]}"}
    r = await h.call(world.lead, "GET", f"{A}/spend", query="group_by=org")
    assert by_key(r) == {world.org: 2_000_000_800}  # even the org row is only their teams' share
    r = await h.call(world.lead, "GET", f"{A}/spend", query=f"team_id={world.ml}&group_by=agent")
    assert r.status == 200 and by_key(r) == {world.bot: 300, None: 2_000_000_500}
    r = await h.call(world.lead, "GET", f"{A}/spend", query=f"team_id={world.web}")
    assert r.status == 403 and f"team_admin of team {world.web}" in r.error["message"]
    assert r.event.decision == "deny"


@pytest.mark.parametrize("who", ["dev", "both", "app", "bot"])
async def test_no_admin_role_reads_no_spend(h: Harness, world: World, who: str) -> None:
    r = await h.call(getattr(world, who), "GET", f"{A}/spend")
    assert r.status == 403 and "caller holds no admin role" in r.error["message"]


async def test_another_organisations_spend_is_never_seen(
    h: Harness, world: World, ledger_rows: list[SpendRecord],
) -> None:
    r = await h.call(world.stranger, "GET", f"{A}/spend", query="group_by=team")
    assert by_key(r) == {world.far_team: 1_000_000_000} and r.json["total"]["requests"] == 1
    r = await h.call(world.root, "GET", f"{A}/spend", query=f"team_id={world.far_team}")
    assert r.status == 200 and r.json["data"] == [] and r.json["total"]["requests"] == 0


async def test_filters_window_limit_and_days(h: Harness, world: World, ledger_rows: list[SpendRecord]) -> None:
    r = await h.call(world.root, "GET", f"{A}/spend", query="group_by=model&model=gpt-4o")
    assert by_key(r) == {"gpt-4o": 2_000_007_350}
    r = await h.call(world.root, "GET", f"{A}/spend", query="group_by=provider&provider=anthropic")
    assert by_key(r) == {"anthropic": 500}
    r = await h.call(world.root, "GET", f"{A}/spend", query=f"group_by=model&user_id={world.dev}")
    assert by_key(r) == {"gpt-4o": 2_000_000_300, "claude-sonnet": 500}
    r = await h.call(world.root, "GET", f"{A}/spend", query=f"principal_id={world.bot}&group_by=agent")
    assert by_key(r) == {world.bot: 300} and r.json["data"][0]["estimated_requests"] == 1
    # An explicit window reaches the older request.
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(NOW - 45 * DAY))
    r = await h.call(world.root, "GET", f"{A}/spend", query=f"since={since}&group_by=team")
    assert by_key(r)[world.ml] == 2_000_000_923 and r.json["total"]["requests"] == 7
    r = await h.call(world.root, "GET", f"{A}/spend", query=f"since={NOW - 50 * DAY}&until={NOW - 35 * DAY}")
    assert r.json["total"]["requests"] == 1 and r.json["since"] == pytest.approx(NOW - 50 * DAY)
    # limit cuts the rows, never the total.
    r = await h.call(world.root, "GET", f"{A}/spend", query="group_by=user&limit=1")
    assert len(r.json["data"]) == 1 and r.json["has_more"] is True and r.json["total"]["requests"] == 6
    assert r.json["data"][0]["key"] == world.dev
    r = await h.call(world.root, "GET", f"{A}/spend", query="group_by=user&limit=10")
    assert r.json["has_more"] is False and set(by_key(r)) == {world.dev, world.webdev, world.both, None}
    r = await h.call(world.root, "GET", f"{A}/spend", query=f"group_by=day&since={NOW - 45 * DAY}")
    days = [row["key"] for row in r.json["data"]]
    assert days == sorted(days) and days[0] == time.strftime("%Y-%m-%d", time.gmtime(NOW - 40 * DAY - 3600))


@pytest.mark.parametrize(("query", "param", "words"), [
    ("group_by=colour", "group_by", "colour"),
    ("group_by=", "group_by", ""),
    ("since=yesterday", "since", "epoch seconds or an ISO 8601 time"),
    ("until=nan", "until", "finite"),
    ("since=2024-06-02&until=2024-06-01", "since", "since must be before until"),
    ("limit=0", "limit", ""),
    ("limit=10001", "limit", ""),
    ("team=ml", "team", "team"),
    ("group_by=team&group_by=user", "group_by", "repeated"),
])
async def test_bad_input_is_a_400_naming_the_parameter(h: Harness, world: World, query: str, param: str,
                                                       words: str) -> None:
    r = await h.call(world.root, "GET", f"{A}/spend", query=query)
    assert r.status == 400, r.body
    assert r.error["param"] == param and words in r.error["message"]
    assert r.event.decision == "deny" and r.event.rule == "invalid_request"


async def test_the_operation_is_documented_with_its_roles(h: Harness, world: World) -> None:
    r = await h.call(world.viewer, "GET", f"{A}/openapi.json")
    op = r.json["paths"][f"{A}/spend"]["get"]
    assert op["x-switchgear-roles"] == ["org_admin", "auditor", "viewer", "team_admin"]
    params = {p["name"]: p for p in op["parameters"]}
    assert set(params["group_by"]["schema"]["enum"]) == set(ledger.GROUP_BY)
    assert {"since", "until", "model", "team_id", "limit"} <= set(params)
    r = await h.call(world.lead, "GET", f"{A}/whoami")
    assert "spend.query" in r.json["actions"]


# ---- the CLI against a live server ----------------------------------------------------------


async def test_spend_from_the_cli(
    gateway: tuple[str, str, list[tuple[str, int]]], capsys: pytest.CaptureFixture[str], world: World,  # noqa: F811
    db: Database, ledger_rows: list[SpendRecord],
) -> None:
    url, admin, seen = gateway
    base = ["--url", url, "--admin-key", admin]

    code, out, _ = await run(capsys, "spend", "--by", "team", *base)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("spend by team, ")
    assert lines[1].split() == ["TEAM", "REQUESTS", "INPUT", "OUTPUT", "CACHED", "IN", "REASONING", "COST", "USD",
                                "ESTIMATED", "CACHED"]
    body = {line.split()[0]: line.split() for line in lines[2:-2]}
    assert set(body) == {world.ml, world.web, "-"}  # "-": requests charged to no team
    assert body[world.ml][1] == "3" and body[world.ml][6] == "2.000001"
    assert set(lines[-2]) == {"-", " "}
    assert lines[-1].split()[:2] == ["TOTAL", "6"] and lines[-1].split()[6] == "2.000008"
    widths = {len(line) for line in lines[1:]}
    assert len(widths) == 1  # one column grid: numbers right-aligned under their headers

    code, out, _ = await run(capsys, "spend", "--by", "model", "--model", "gpt-4o", "--since", "45d", *base, "--json")
    report = json.loads(out)
    assert code == 0 and [r["key"] for r in report["data"]] == ["gpt-4o"] and report["total"]["requests"] == 6
    assert abs(report["since"] - (time.time() - 45 * DAY)) < 60

    code, out, _ = await run(capsys, "spend", "--since", "2024-01-01", "--until", "2024-01-02T00:00:00Z", *base)
    assert code == 0 and "(no spend)" in out and out.splitlines()[-1].split()[:2] == ["TOTAL", "0"]
    assert "2024-01-01 00:00Z to 2024-01-02 00:00Z" in out.splitlines()[0]

    code, out, _ = await run(capsys, "spend", "--by", "user", "--limit", "1", *base)
    assert code == 0 and "the total covers every user" in out and out.count(world.dev) == 1

    # A team admin, with their own key, sees their team only and is refused another's.
    _, lead_key = await db.run(lambda c: repo.create_key(c, world.org, world.lead, "lead"))
    code, out, _ = await run(capsys, "spend", "--by", "team", "--url", url, "--admin-key", lead_key, "--json")
    assert code == 0 and [r["key"] for r in json.loads(out)["data"]] == [world.ml]
    code, out, err = await run(capsys, "spend", "--team", world.web, "--url", url, "--admin-key", lead_key)
    assert code == 1 and out == "" and "HTTP 403" in err and world.web in err
    assert [s for p, s in seen if p == f"{A}/spend"] == [200, 200, 200, 200, 200, 403]

    with pytest.raises(SystemExit):
        await run(capsys, "spend", "--by", "colour", *base)
    with pytest.raises(SystemExit):
        await run(capsys, "spend", "--since", "last week", *base)
