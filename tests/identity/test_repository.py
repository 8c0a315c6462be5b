"""The identity repository on both backends (real SQLite and PostgreSQL)."""

from __future__ import annotations

import time

import pytest

from switchgear.identity import keys as keygen
from switchgear.identity import repository as repo
from switchgear.store.database import Database


@pytest.fixture
async def db(store_url: str):  # type: ignore[no-untyped-def]
    d = Database(store_url)
    yield d
    await d.close()


async def test_org_team_principal_key_grant_lifecycle(db: Database) -> None:
    org = await db.run(repo.create_org, "acme")
    team = await db.run(repo.create_team, org.id, "ml")
    alice = await db.run(lambda c: repo.create_principal(c, org.id, "user", "alice", email="a@acme.test"))
    await db.run(repo.add_member, org.id, team.id, alice.id, "team_admin")
    key, secret = await db.run(lambda c: repo.create_key(c, org.id, alice.id, "laptop"))
    assert secret.startswith(key.prefix + "_") and key.prefix.startswith("sk-sg-")
    g = await db.run(lambda c: repo.create_grant(c, org.id, "team", team.id, models=["gpt-4o", "openai/*"],
                                                 endpoints=["chat"], max_tokens=1000))
    snap = await db.run(repo.load_snapshot)
    assert snap.revision >= 5
    (row,) = snap.keys
    assert row.digest == keygen.digest_hex(secret)  # only the digest is stored
    assert secret not in repr(snap)
    assert [m.role for m in snap.members] == ["team_admin"]
    assert snap.grants[0].models == ["gpt-4o", "openai/*"] and snap.grants[0].max_tokens == 1000
    assert (await db.run(repo.get_grant, org.id, g.id)).endpoints == ["chat"]


async def test_every_change_bumps_the_revision(db: Database) -> None:
    r0 = await db.run(repo.current_revision)
    org = await db.run(repo.create_org, "acme")
    r1 = await db.run(repo.current_revision)
    user = await db.run(lambda c: repo.create_principal(c, org.id, "user", "bob"))
    key, _ = await db.run(lambda c: repo.create_key(c, org.id, user.id, "k"))
    r2 = await db.run(repo.current_revision)
    await db.run(repo.revoke_key, org.id, key.id)
    r3 = await db.run(repo.current_revision)
    assert r0 < r1 < r2 < r3


async def test_rotation_keeps_the_old_key_valid_for_the_overlap(db: Database) -> None:
    org = await db.run(repo.create_org, "acme")
    svc = await db.run(lambda c: repo.create_principal(c, org.id, "service_account", "etl"))
    old, _ = await db.run(lambda c: repo.create_key(c, org.id, svc.id, "etl"))
    before = time.time()
    new, new_secret = await db.run(lambda c: repo.rotate_key(c, org.id, old.id, overlap_s=3600))
    old_after = await db.run(repo.get_key, org.id, old.id)
    assert new.rotated_from == old.id and new.principal_id == svc.id
    assert old_after.expires_at is not None and before + 3600 <= old_after.expires_at <= time.time() + 3600
    assert new.expires_at is None and new.prefix != old.prefix
    revoked = await db.run(repo.revoke_key, org.id, new.id)
    assert revoked.revoked_at is not None
    with pytest.raises(repo.Invalid, match="revoked or expired"):
        await db.run(lambda c: repo.rotate_key(c, org.id, new.id, overlap_s=0))


async def test_agents_need_a_user_owner_and_a_purpose(db: Database) -> None:
    org = await db.run(repo.create_org, "acme")
    svc = await db.run(lambda c: repo.create_principal(c, org.id, "service_account", "etl"))
    with pytest.raises(repo.Invalid, match="owner"):
        await db.run(lambda c: repo.create_principal(c, org.id, "agent", "bot"))
    with pytest.raises(repo.Invalid, match="must be a user"):
        await db.run(lambda c: repo.create_principal(c, org.id, "agent", "bot", owner_id=svc.id, purpose="x"))
    alice = await db.run(lambda c: repo.create_principal(c, org.id, "user", "alice"))
    bot = await db.run(lambda c: repo.create_principal(c, org.id, "agent", "bot", owner_id=alice.id,
                                                       purpose="triage tickets", on_behalf_of="required"))
    assert bot.on_behalf_of == "required" and bot.owner_id == alice.id
    with pytest.raises(repo.Invalid, match="admin role"):
        await db.run(lambda c: repo.update_principal(c, org.id, bot.id, role="org_admin"))


async def test_objects_of_another_org_are_not_found(db: Database) -> None:
    a = await db.run(repo.create_org, "a")
    b = await db.run(repo.create_org, "b")
    ua = await db.run(lambda c: repo.create_principal(c, a.id, "user", "u"))
    key, _ = await db.run(lambda c: repo.create_key(c, a.id, ua.id, "k"))
    with pytest.raises(repo.NotFound):
        await db.run(repo.get_principal, b.id, ua.id)
    with pytest.raises(repo.NotFound):
        await db.run(repo.revoke_key, b.id, key.id)
    with pytest.raises(repo.NotFound):
        await db.run(lambda c: repo.create_grant(c, b.id, "principal", ua.id, models=["*"], endpoints=["chat"]))


async def test_duplicates_and_injection_strings_are_plain_data(db: Database) -> None:
    evil = "x'); DROP TABLE orgs; --"
    org = await db.run(repo.create_org, evil)
    assert (await db.run(repo.find_org, evil)).id == org.id
    with pytest.raises(repo.Invalid, match="already exists"):
        await db.run(repo.create_org, evil)
    assert [o.name for o in await db.run(repo.list_orgs)] == [evil]
