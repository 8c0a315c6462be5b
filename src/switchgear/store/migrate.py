"""Schema migrations, by yoyo-migrations: versioned SQL files in store/migrations/.

`switchgear db upgrade` applies what is pending; the gateway checks at start and
refuses to run on a schema older than its code (``pending`` non-empty), except that a
brand-new embedded SQLite database is created on the spot (nothing to install).

Rolling upgrades: a migration only adds (tables, nullable columns, indexes). A column
is dropped only in a release *after* the one that stopped using it, so old and new
gateway processes can share one database while a deployment rolls.
"""

from __future__ import annotations

import os
from importlib import resources

from switchgear.store.database import StoreError, dialect_of, redact

MIGRATION_TABLE = "switchgear_migrations"


def _yoyo_url(url: str) -> str:
    if dialect_of(url) == "postgresql":
        scheme, _, rest = url.partition("://")
        return f"postgresql+psycopg://{rest}"
    return url


def _migrations():  # -> yoyo MigrationList
    from yoyo import read_migrations

    return read_migrations(str(resources.files("switchgear.store") / "migrations"))


def _backend(url: str):  # -> yoyo DatabaseBackend
    from yoyo import get_backend

    if dialect_of(url) == "sqlite":
        from switchgear.store.database import _sqlite_path

        path = _sqlite_path(url)
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        return get_backend(_yoyo_url(url), migration_table=MIGRATION_TABLE)
    except Exception as e:  # yoyo raises driver errors as they come
        raise StoreError(f"cannot open store {redact(url)}: {e}") from None


def pending(url: str) -> list[str]:
    """Ids of the migrations not yet applied to the database at ``url``."""
    backend = _backend(url)
    try:
        return [m.id for m in backend.to_apply(_migrations())]
    finally:
        backend.connection.close()


def applied(url: str) -> list[str]:
    backend = _backend(url)
    try:
        return [m.id for m in _migrations() if backend.is_applied(m)]
    finally:
        backend.connection.close()


def _sqlite_wal(url: str) -> None:
    """Put the file in WAL mode once (it persists): readers never block the writer."""
    import sqlite3

    from switchgear.store.database import _sqlite_path

    path = _sqlite_path(url)
    if path == ":memory:":
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    conn = sqlite3.connect(path, timeout=10.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def upgrade(url: str) -> list[str]:
    """Apply every pending migration (under yoyo's lock: safe from many processes at
    once). Returns the ids applied."""
    if dialect_of(url) == "sqlite":
        _sqlite_wal(url)
    backend = _backend(url)
    try:
        with backend.lock():
            todo = backend.to_apply(_migrations())
            backend.apply_migrations(todo)
            return [m.id for m in todo]
    finally:
        backend.connection.close()


def downgrade_all(url: str) -> None:
    """Roll everything back (tests only: a real rollback is a new forward migration)."""
    backend = _backend(url)
    try:
        with backend.lock():
            backend.rollback_migrations(backend.to_rollback(_migrations()))
    finally:
        backend.connection.close()


def check(url: str) -> None:
    """Raise StoreError naming the pending migrations, if any."""
    todo = pending(url)
    if todo:
        raise StoreError(
            f"the store at {redact(url)} needs migrations {', '.join(todo)}: run `switchgear db upgrade`"
        )
