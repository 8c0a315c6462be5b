"""The in-process identity snapshot: lookups without the store, and freshness when
another writer (another process: here, another connection) changes the store."""

from __future__ import annotations

import asyncio
import time

import pytest

from switchgear.core.errors import AuthenticationFailed
from switchgear.identity import repository as repo
from switchgear.identity.directory import Directory
from switchgear.stages.authenticate import AuthenticateLive
from switchgear.store.database import Database


@pytest.fixture
async def two(store_url: str):  # type: ignore[no-untyped-def]
    """(the admin side's database, a gateway's directory on its own connection)."""
    admin = Database(store_url)
    gw_db = Database(store_url)
    d = Directory({}, gw_db, refresh_interval_s=60)  # the periodic safety net stays out of the way
    await d.start()
    yield admin, d
    await d.stop()
    await gw_db.close()
    await admin.close()


async def _setup(db: Database):  # type: ignore[no-untyped-def]
    org = await db.run(repo.create_org, "acme")
    team = await db.run(repo.create_team, org.id, "ml")
    user = await db.run(lambda c: repo.create_principal(c, org.id, "user", "alice"))
    await db.run(repo.add_member, org.id, team.id, user.id)
    await db.run(lambda c: repo.create_grant(c, org.id, "team", team.id, models=["gpt-4o"], endpoints=["chat"]))
    key, secret = await db.run(lambda c: repo.create_key(c, org.id, user.id, "k"))
    return org, team, user, key, secret


async def _next_request(auth: AuthenticateLive, secret: str, within: float = 2.0):  # type: ignore[no-untyped-def]
    """Authenticate as the next request would, retrying only until the change is visible."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await auth.resolve({"authorization": f"Bearer {secret}"})
        except AuthenticationFailed:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.002)


async def test_a_new_key_works_and_carries_its_teams_grants(two) -> None:  # type: ignore[no-untyped-def]
    admin, d = two
    org, team, user, key, secret = await _setup(admin)
    auth = AuthenticateLive(d)
    p = await _next_request(auth, secret)
    assert (p.id, p.kind, p.org_id, p.key_id) == (user.id, "user", org.id, key.prefix)
    assert p.teams == {team.id} and p.rights.decide("chat", "gpt-4o").models == ("gpt-4o",)  # type: ignore[union-attr]


async def test_revocation_takes_effect_on_the_next_request(two) -> None:  # type: ignore[no-untyped-def]
    admin, d = two
    org, _, _, key, secret = await _setup(admin)
    auth = AuthenticateLive(d)
    await _next_request(auth, secret)
    await admin.run(repo.revoke_key, org.id, key.id)
    # PostgreSQL: the NOTIFY arrives in milliseconds; SQLite: data_version is probed at
    # most once per millisecond. Give the notification 50 ms, then the very next request.
    await asyncio.sleep(0.05)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await auth.resolve({"x-api-key": secret})


async def test_expiry_and_disabled_principal(two) -> None:  # type: ignore[no-untyped-def]
    admin, d = two
    org, _, user, _, _ = await _setup(admin)
    soon, secret = await admin.run(lambda c: repo.create_key(c, org.id, user.id, "short", expires_at=time.time() + 0.3))
    auth = AuthenticateLive(d)
    await _next_request(auth, secret)
    await asyncio.sleep(0.35)
    with pytest.raises(AuthenticationFailed, match="expired"):
        await auth.resolve({"x-api-key": secret})
    _, other = await admin.run(lambda c: repo.create_key(c, org.id, user.id, "other"))
    await _next_request(auth, other)
    await admin.run(lambda c: repo.update_principal(c, org.id, user.id, disabled=True))
    await asyncio.sleep(0.05)
    with pytest.raises(AuthenticationFailed, match="disabled"):
        await auth.resolve({"x-api-key": other})


async def test_lookups_never_touch_the_store(two, store_url: str) -> None:  # type: ignore[no-untyped-def]
    admin, d = two
    *_, secret = await _setup(admin)
    auth = AuthenticateLive(d)
    await _next_request(auth, secret)
    await d.db.close()  # the gateway's store connection is gone …
    await d.stop()  # … and its change watchers too (the store being down is the point)
    for _ in range(100):  # … and keys still verify, from memory
        assert (await auth.resolve({"x-api-key": secret})).name == "alice"


async def test_unknown_and_malformed_keys(two) -> None:  # type: ignore[no-untyped-def]
    _, d = two
    auth = AuthenticateLive(d)
    for bad in ["sk-sg-nope", "' OR 1=1 --", "x" * 5000, "sk-sg-\u00e9\u0000"]:
        with pytest.raises(AuthenticationFailed, match="invalid API key"):
            await auth.resolve({"x-api-key": bad})
