from __future__ import annotations

import pytest

from switchgear.store import migrate
from switchgear.store.database import Database, IntegrityViolation, StoreError
from tests import stores


async def test_run_commits_and_rolls_back(store_url: str) -> None:
    db = Database(store_url)
    try:
        await db.run(lambda c: c.execute("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)", ("o1", "acme", 1.0)))

        def fails(c):  # type: ignore[no-untyped-def]
            c.execute("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)", ("o2", "beta", 1.0))
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await db.run(fails)
        rows = await db.run(lambda c: c.all("SELECT id, name FROM orgs ORDER BY id"))
        assert rows == [("o1", "acme")]  # o2 rolled back with its transaction
        with pytest.raises(IntegrityViolation):
            await db.run(lambda c: c.execute("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)", ("o3", "acme", 1.0)))
    finally:
        await db.close()


def test_fresh_database_has_every_migration_pending(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with stores.sqlite_database(str(tmp_path), migrated=False) as url:
        assert migrate.pending(url) == ["0001_identity", "0002_audit", "0003_spend"]
        with pytest.raises(StoreError, match="switchgear db upgrade"):
            migrate.check(url)
        assert migrate.upgrade(url) == ["0001_identity", "0002_audit", "0003_spend"]
        assert migrate.pending(url) == []
        migrate.check(url)
        assert migrate.upgrade(url) == []  # idempotent


def test_postgres_migrations_apply_and_check() -> None:
    with stores.postgres_database(migrated=False) as url:
        assert migrate.pending(url) == ["0001_identity", "0002_audit", "0003_spend"]
        migrate.upgrade(url)
        migrate.check(url)


def test_unreachable_postgres_is_a_clear_error() -> None:
    db = Database("postgresql://nobody:secret@127.0.0.1:1/none")
    with pytest.raises(StoreError) as e:
        db.run_sync(lambda c: c.one("SELECT 1"))
    assert "secret" not in str(e.value)
    assert "cannot connect" in str(e.value)
    db.close_sync()


def test_unsupported_scheme() -> None:
    with pytest.raises(StoreError, match="unsupported store url"):
        Database("mysql://x/y")
