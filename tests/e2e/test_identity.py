"""Identity, access and audit end to end: real gateway processes sharing a real store
(SQLite and PostgreSQL), managed through the admin API, called with the official SDKs.

Security attacks have their own module (test_security.py); this one proves the
capabilities work as a user would use them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from switchgear.audit import store as audit_store
from switchgear.audit.signing import load_public_key
from switchgear.audit.verify import verify
from switchgear.store.database import Database
from tests import stores
from tests.e2e.harness import SimThread
from tests.e2e.identity_harness import Deployment


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def dep(request: pytest.FixtureRequest, sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Two gateway processes sharing one store."""
    work = tmp_path_factory.mktemp(f"identity-{request.param}")
    cm = stores.sqlite_database(str(work)) if request.param == "sqlite" else stores.postgres_database()
    with cm as url:
        d = Deployment(url, sim.url, work, processes=2)
        try:
            yield d
        finally:
            d.stop()


def _oai(url: str, key: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20, default_headers=headers or None)


def _chat(client: openai.OpenAI, model: str = "gpt", **kw: Any) -> str:
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}], **kw)
    return r.choices[0].message.content or ""


def test_a_granted_key_works_on_every_process_and_only_for_its_grant(dep: Deployment) -> None:
    _, key = dep.service_account("etl", ["gpt", "claude"], max_tokens=256)
    for g in dep.gateways:
        assert _chat(_oai(g.url, key))  # translated to whatever the deployment speaks
        c = anthropic.Anthropic(base_url=g.url, api_key=key, max_retries=0, timeout=20)
        msg = c.messages.create(model="claude", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
        assert msg.content[0].text
        assert [m.id for m in _oai(g.url, key).models.list()] == ["gpt", "claude"]  # only what it may use
    with pytest.raises(openai.PermissionDeniedError) as e:
        _chat(_oai(dep.url, key), "gemini")
    assert e.value.body["code"] == "model_not_granted" and "model 'gemini'" in e.value.body["message"]
    with pytest.raises(anthropic.PermissionDeniedError) as ea:
        anthropic.Anthropic(base_url=dep.url, api_key=key, max_retries=0).messages.create(
            model="claude", max_tokens=1000, messages=[{"role": "user", "content": "hi"}])
    assert "at most 256" in str(ea.value)


def test_a_request_without_max_tokens_is_capped_at_the_grant(dep: Deployment, sim: SimThread) -> None:
    _, key = dep.service_account("capped", ["gpt"], max_tokens=64)
    sim.reset()
    _chat(_oai(dep.url, key))
    (seen,) = [r for r in sim.requests() if r["path"].endswith("/chat/completions")]
    body = seen["body"]
    assert body.get("max_completion_tokens", body.get("max_tokens")) == 64


def test_revocation_takes_effect_on_the_next_request_in_every_process(dep: Deployment) -> None:
    _, key = dep.service_account("revokee", ["gpt"])
    a, b = dep.gateways
    assert _chat(_oai(a.url, key)) and _chat(_oai(b.url, key))
    (k,) = [k for k in dep.ok("GET", "/admin/v1/keys")["data"] if k["name"] == "revokee-key"]
    dep.ok("POST", f"/admin/v1/keys/{k['id']}/revoke", url=a.url)  # revoked through process A …
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        _chat(_oai(b.url, key))  # … refused by process B on its very next request
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        _chat(_oai(a.url, key))


def test_rotation_keeps_both_keys_during_the_overlap(dep: Deployment) -> None:
    _, old = dep.service_account("rotor", ["gpt"])
    (k,) = [k for k in dep.ok("GET", "/admin/v1/keys")["data"] if k["name"] == "rotor-key"]
    new = dep.ok("POST", f"/admin/v1/keys/{k['id']}/rotate", {"overlap_s": 1.0})["key"]
    for g in dep.gateways:
        assert _chat(_oai(g.url, old)) and _chat(_oai(g.url, new))
    time.sleep(1.1)
    for g in dep.gateways:
        with pytest.raises(openai.AuthenticationError, match="expired"):
            _chat(_oai(g.url, old))
        assert _chat(_oai(g.url, new))


def test_an_agent_for_a_user_gets_the_intersection(dep: Deployment) -> None:
    team = dep.ok("POST", "/admin/v1/teams", {"name": "support"})
    alice = dep.ok("POST", "/admin/v1/users", {"name": "alice"})
    dep.ok("POST", f"/admin/v1/teams/{team['id']}/members", {"principal_id": alice["id"]})
    dep.ok("POST", "/admin/v1/grants", {"subject_type": "team", "subject_id": team["id"],
                                        "models": ["gpt", "claude"], "endpoints": ["chat"]})
    alice_key = dep.ok("POST", "/admin/v1/keys", {"principal_id": alice["id"], "name": "alice"})["key"]
    bot = dep.ok("POST", "/admin/v1/agents", {"name": "triage-bot", "owner_id": alice["id"],
                                              "purpose": "triage support tickets", "on_behalf_of": "required"})
    dep.ok("POST", "/admin/v1/grants", {"subject_type": "principal", "subject_id": bot["id"],
                                        "models": ["gpt", "llama"], "endpoints": ["chat"]})
    bot_key = dep.ok("POST", "/admin/v1/keys", {"principal_id": bot["id"], "name": "bot"})["key"]
    acting = _oai(dep.url, bot_key, **{"x-switchgear-on-behalf-of": alice_key})
    assert _chat(acting, "gpt")  # both allow it
    with pytest.raises(openai.PermissionDeniedError, match="agent 'triage-bot'"):
        _chat(acting, "claude")  # alice may, the agent's scope may not
    with pytest.raises(openai.PermissionDeniedError, match="user 'alice'"):
        _chat(acting, "llama")  # the agent may, alice may not: no lifting her above her rights
    with pytest.raises(openai.PermissionDeniedError) as e:
        _chat(_oai(dep.url, bot_key), "gpt")
    assert e.value.body["code"] == "on_behalf_of_required"
    time.sleep(0.2)  # the audit writer flushes every 50 ms here
    rows = dep.ok("GET", f"/admin/v1/audit?agent_id={bot['id']}&limit=100")["data"]
    allowed = [r for r in rows if r["decision"] == "allow" and r["action"] == "chat"]
    assert len(allowed) == 1 and allowed[0]["on_behalf_of_id"] == alice["id"] and allowed[0]["model"] == "gpt"
    assert {r.get("rule") for r in rows if r["decision"] == "deny"} >= {"model_not_granted", "on_behalf_of_required"}


def test_access_review_shows_granted_against_used(dep: Deployment) -> None:
    _, used = dep.service_account("reviewed", ["gpt", "claude"])
    dep.service_account("idle", ["gpt"])
    _chat(_oai(dep.url, used))
    time.sleep(0.2)
    review = dep.ok("GET", "/admin/v1/access-review?window_days=7&unused_days=1")
    rows = {e["principal_name"]: e for e in review["entries"]}
    assert rows["reviewed"]["granted_models"] == ["claude", "gpt"] and rows["reviewed"]["used_models"] == ["gpt"]
    assert rows["reviewed"]["unused"] is False and rows["idle"]["unused"] is True
    assert rows["idle"]["expires_at"] is None  # a key without expiry is flagged by its null


def test_the_audit_record_survives_shutdown_and_verifies(dep: Deployment, tmp_path: Path) -> None:
    """Last in the module: stops the gateways (SIGTERM flushes the queue)."""
    sa, key = dep.service_account("audited", ["gpt"])
    # The admin actions this test expects on the record (independent of the other tests,
    # which another worker may run against its own deployment).
    spare = dep.ok("POST", "/admin/v1/keys", {"principal_id": sa["id"], "name": "spare"})
    dep.ok("POST", f"/admin/v1/keys/{spare['id']}/rotate", {"overlap_s": 0})
    dep.ok("POST", f"/admin/v1/keys/{spare['id']}/revoke")
    owner = dep.ok("POST", "/admin/v1/users", {"name": "audit-owner"})
    dep.ok("POST", "/admin/v1/agents", {"name": "audit-bot", "owner_id": owner["id"], "purpose": "audit test"})
    ids = []
    for g in dep.gateways:
        for _ in range(5):
            r = _oai(g.url, key).chat.completions.with_raw_response.create(
                model="gpt", messages=[{"role": "user", "content": "x"}])
            ids.append(r.headers["x-request-id"])
    dep.stop()
    db = Database(dep.store_url)
    try:
        report = verify(db, [load_public_key(dep.workdir / "audit-key.pem")])
        assert report.ok, report.problems
        assert report.checkpoints_verified >= 1  # a graceful stop signs the head
        entries = [r.entry for r in db.run_sync(lambda c: audit_store.query(c, limit=100_000))]
    finally:
        db.close_sync()
    by_id = {e.request_id: e for e in entries if e.kind == "request"}
    for rid in ids:  # every request, from both processes, is on the one chain
        e = by_id[rid]
        assert (e.decision, e.model, e.deployment, e.status) == ("allow", "gpt", "openai/gpt-4o", 200)
        assert e.principal_name == "audited" and e.credential_id.startswith("sk-sg-") and e.input_tokens
        assert e.client_ip == "127.0.0.1"
    admin_actions = {e.action for e in entries if e.kind == "admin"}
    assert {"keys.create", "keys.revoke", "keys.rotate", "grants.create", "agents.create"} <= admin_actions
    # The CLI says the same, and exits 0.
    out = subprocess.run([sys.executable, "-m", "switchgear.cli", "audit", "verify", "--store", dep.store_url,
                          "--public-key", str(dep.workdir / "audit-key.pem")], capture_output=True, text=True)
    assert out.returncode == 0 and "audit chain OK" in out.stdout, out.stderr


def test_a_killed_gateway_loses_only_its_unflushed_tail(sim: SimThread, tmp_path: Path) -> None:
    """SIGKILL: what was committed stays and verifies; what was queued is all that is lost."""
    with stores.sqlite_database(str(tmp_path)) as url:
        d = Deployment(url, sim.url, tmp_path, audit={"flush_interval_ms": 60_000, "batch_max": 10})
        try:
            _, key = d.service_account("doomed", ["gpt"])
            client = _oai(d.url, key)
            ids = [client.chat.completions.with_raw_response.create(
                model="gpt", messages=[{"role": "user", "content": "x"}]).headers["x-request-id"] for _ in range(27)]
            time.sleep(0.3)
            d.gateways[0].proc.send_signal(signal.SIGKILL)
            d.gateways[0].proc.wait(10)
        finally:
            d.stop()
        db = Database(url)
        try:
            assert verify(db).ok
            rows = db.run_sync(lambda c: audit_store.query(c, limit=10_000))
        finally:
            db.close_sync()
        requests = [r for r in rows if r.entry.kind == "request"]
        # A full batch (10) is written at once; the long interval keeps the rest queued:
        # the admin set-up (5 entries) + 27 requests = 32 submitted, 30 committed, the last 2 lost.
        assert len(rows) == 30
        assert [r.entry.request_id for r in requests] == ids[:25]
