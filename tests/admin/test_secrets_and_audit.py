"""Secrets are shown once; every request is audited once; the record is read per organisation."""

from __future__ import annotations

import time

import msgspec

from switchgear.admin.api import AdminApi, AdminEvent
from switchgear.identity import keys as keygen
from switchgear.identity import repository as repo
from switchgear.store.database import Database
from tests.admin.support import Harness, World

A = "/admin/v1"


def _everything_said(h: Harness) -> bytes:
    return b"\n".join(repr(e).encode() + msgspec.json.encode(e.details) for e in h.events)


async def test_a_secret_appears_only_in_its_create_or_rotate_response(h: Harness, world: World, db: Database) -> None:
    r = await h.call(world.root, "POST", f"{A}/keys", {"principal_id": world.dev, "name": "laptop"})
    secret, key_id = r.json["key"], r.json["id"]
    assert r.json["warning"].startswith("store this key now")
    assert keygen.digest_hex(secret) == (await db.run(repo.load_snapshot)).keys[0].digest  # the real key
    r2 = await h.call(world.root, "POST", f"{A}/keys/{key_id}/rotate", {"overlap_s": 60, "expires_in_s": 3600})
    rotated = r2.json["key"]
    assert rotated != secret and r2.json["previous"]["expires_at"] <= time.time() + 61
    assert "key" not in r2.json["previous"]

    said = [r.body, r2.body]
    for method, path in (("GET", "keys"), ("GET", f"keys/{key_id}"), ("GET", f"keys/{r2.json['id']}"),
                         ("POST", f"keys/{key_id}/revoke"), ("GET", "users"), ("GET", "whoami")):
        said.append((await h.call(world.root, method, f"{A}/{path}")).body)
    # Errors that involve the key: rotating a revoked key, a viewer rotating, the secret used as an id.
    said.append((await h.call(world.root, "POST", f"{A}/keys/{key_id}/rotate")).body)
    said.append((await h.call(world.viewer, "POST", f"{A}/keys/{r2.json['id']}/rotate")).body)
    pasted = [await h.call(world.root, "GET", f"{A}/keys/{secret}"),
              await h.call(world.root, "GET", f"{A}/keys", query=f"principal_id={secret}"),
              await h.call(world.root, "POST", f"{A}/keys", {"principal_id": world.dev, "name": secret}),
              await h.call(world.root, "GET", f"{A}/nowhere/{secret}")]
    for p in pasted:
        assert p.status in (400, 404)
        said.append(p.body)
    assert pasted[0].event.path == f"{A}/keys/{secret[:14]}_[redacted]"  # the prefix stays: it names the key
    assert pasted[3].event.path == f"{A}/nowhere/{secret[:14]}_[redacted]" and pasted[3].status == 404
    assert "API key secret" in pasted[0].error["message"] and "API key secret" in pasted[2].error["message"]
    for body in said[2:]:
        assert secret.encode() not in body and rotated.encode() not in body
        for forbidden in (b'"key":', b"digest"):
            assert forbidden not in body
    assert said[0].count(secret.encode()) == 1 and said[1].count(rotated.encode()) == 1
    audit_text = _everything_said(h)
    assert secret.encode() not in audit_text and rotated.encode() not in audit_text
    assert keygen.digest_hex(secret).encode() not in audit_text
    export = (await h.call(world.root, "GET", f"{A}/audit/export")).body
    assert secret.encode() not in export and rotated.encode() not in export


async def test_events_carry_outcome_rule_target_and_validated_input(h: Harness, world: World) -> None:
    r = await h.call(world.lead, "POST", f"{A}/keys", {"principal_id": world.dev, "name": "ci", "expires_in_s": 60})
    e = r.event
    assert (e.action, e.decision, e.rule, e.status, e.target) == ("keys.create", "allow", "team_admin", 201,
                                                                 r.json["id"])
    assert e.details == {"body": {"principal_id": world.dev, "name": "ci", "expires_in_s": 60.0,
                                  "expires_at": None}}
    assert e.message is None and e.method == "POST" and e.path == f"{A}/keys"
    r = await h.call(world.lead, "POST", f"{A}/keys", {"principal_id": world.webdev, "name": "ci"})
    e = r.event
    assert (e.action, e.decision, e.rule, e.status) == ("keys.create", "deny", "permission_denied", 403)
    assert e.message == r.error["message"]
    r = await h.call(world.root, "DELETE", f"{A}/teams/{world.ml}/members/{world.dev}")
    assert r.event.target == world.dev and r.event.details == {"params": {"team_id": world.ml,
                                                                           "principal_id": world.dev}}


async def test_a_failing_audit_sink_or_refresh_does_not_undo_a_committed_change(db: Database, world: World) -> None:
    def broken_audit(e: AdminEvent) -> None:
        raise RuntimeError("audit queue full")

    async def broken_refresh() -> None:
        raise RuntimeError("reload failed")

    api = AdminApi(db, broken_audit, broken_refresh, None)
    snap = await db.run(repo.load_snapshot)
    from tests.admin.support import principal_from

    status, _, _ = await api.handle("POST", f"{A}/teams", "", {"content-type": "application/json"},
                                       b'{"name": "ops"}', principal_from(snap, world.root))
    assert status == 201
    assert any(t.name == "ops" for t in await db.run(repo.list_teams, world.org))


async def test_the_record_is_read_per_organisation_with_filters(h: Harness, world: World) -> None:
    await h.call(world.root, "POST", f"{A}/teams", {"name": "a"})
    await h.call(world.viewer, "POST", f"{A}/teams", {"name": "b"})  # denied
    await h.call(world.stranger, "POST", f"{A}/teams", {"name": "c"})  # another org
    r = await h.call(world.auditor, "GET", f"{A}/audit")
    assert r.status == 200 and r.event.rule == "auditor"
    rows = r.json["data"]
    assert {row["org_id"] for row in rows} == {world.org}
    assert [row["action"] for row in rows] == ["teams.create", "teams.create"]
    assert r.json["next_after_seq"] is None
    r = await h.call(world.auditor, "GET", f"{A}/audit", query="decision=deny")
    assert [(row["principal_id"], row["decision"]) for row in r.json["data"]] == [(world.viewer, "deny")]
    r = await h.call(world.auditor, "GET", f"{A}/audit", query=f"principal_id={world.root}&action=teams.create")
    assert len(r.json["data"]) == 1
    r = await h.call(world.auditor, "GET", f"{A}/audit", query="limit=2")
    assert len(r.json["data"]) == 2 and r.json["next_after_seq"] == r.json["data"][-1]["seq"]
    after = r.json["next_after_seq"]
    r = await h.call(world.auditor, "GET", f"{A}/audit", query=f"after_seq={after}&limit=1000")
    assert all(row["seq"] > after for row in r.json["data"]) and r.json["data"]
    r = await h.call(world.auditor, "GET", f"{A}/audit", query="since=2999-01-01T00:00:00Z")
    assert r.json["data"] == []
    r = await h.call(world.auditor, "GET", f"{A}/audit/export", query="decision=deny")
    lines = [msgspec.json.decode(line) for line in r.body.splitlines()]
    assert lines and all(x["decision"] == "deny" and x["org_id"] == world.org for x in lines)
    r = await h.call(world.auditor, "GET", f"{A}/audit/verify")
    assert r.json["ok"] is True


async def test_access_review_reports_unused_and_non_expiring_keys(h: Harness, world: World) -> None:
    k1 = (await h.call(world.root, "POST", f"{A}/keys", {"principal_id": world.dev, "name": "a"})).json
    k2 = (await h.call(world.root, "POST", f"{A}/keys", {"principal_id": world.bot, "name": "b",
                                                          "expires_in_s": 3600})).json
    assert h.records is not None
    h.records.usage[k2["id"]] = (["gpt-4o"], ["chat"], time.time())
    r = await h.call(world.auditor, "GET", f"{A}/access-review", query="window_days=7&unused_days=14")
    assert r.status == 200 and r.json["window_days"] == 7 and r.json["unused_days"] == 14
    by_id = {e["key_id"]: e for e in r.json["entries"]}
    assert {e["credential_id"] for e in r.json["entries"]} >= {k1["prefix"], k2["prefix"]}
    assert by_id[k1["id"]]["unused"] is True and by_id[k1["id"]]["expires_at"] is None
    assert by_id[k2["id"]]["unused"] is False and by_id[k2["id"]]["principal_kind"] == "agent"
    assert "gpt-4o" in by_id[k1["id"]]["granted_models"]
    r = await h.call(world.auditor, "GET", f"{A}/access-review", query="window_days=0")
    assert r.status == 400 and r.error["param"] == "window_days"


async def test_without_an_audit_store_the_record_routes_say_so(db: Database, world: World) -> None:
    h = Harness(db, None)
    for path in ("audit", "audit/export", "audit/verify", "access-review"):
        r = await h.call(world.auditor, "GET", f"{A}/{path}")
        assert r.status == 501 and "no audit store" in r.error["message"]


class _Liar:
    """An audit store whose answers break the documented shape."""

    async def query(self, filters):  # type: ignore[no-untyped-def]
        return [{"seq": "one"}]

    async def export(self, filters):  # type: ignore[no-untyped-def]
        return b""

    async def verify(self):  # type: ignore[no-untyped-def]
        return {"status": "fine"}

    async def access_review(self, org_id, window_days, unused_days):  # type: ignore[no-untyped-def]
        return {"entries": "none"}


async def test_a_malformed_answer_from_the_audit_store_is_a_500_not_passed_on(db: Database, world: World) -> None:
    h = Harness(db, None)
    h.api.records = _Liar()
    for path in ("audit", "audit/verify", "access-review"):
        r = await h.call(world.auditor, "GET", f"{A}/{path}")
        assert r.status == 500 and r.error["message"] == "internal error"
