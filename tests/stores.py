"""Real databases for tests: a fresh SQLite file or a fresh PostgreSQL database each.

PostgreSQL databases are cloned from a template migrated once per test run, named
with this run's own prefix so parallel runs (xdist workers, other checkouts) never
collide, and dropped afterwards. PostgreSQL must be up (``.ci/run`` starts it): a
test that needs it fails rather than skips when it is not.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

PG_ADMIN_URL = os.environ.get("SWITCHGEAR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RUN_ID = f"sgt_{os.getpid()}_{uuid.uuid4().hex[:6]}"
_counter = itertools.count(1)
_template: str | None = None


def _pg_url_for(db: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{db}"


def _admin_exec(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def _ensure_template() -> str:
    global _template
    if _template is None:
        from switchgear.store import migrate

        name = f"{RUN_ID}_tpl"
        _admin_exec(f'CREATE DATABASE "{name}"')
        migrate.upgrade(_pg_url_for(name))
        _template = name
    return _template


@contextmanager
def postgres_database(migrated: bool = True) -> Iterator[str]:
    """A fresh PostgreSQL database url (migrated unless told otherwise), dropped after."""
    name = f"{RUN_ID}_{next(_counter)}"
    if migrated:
        _admin_exec(f'CREATE DATABASE "{name}" TEMPLATE "{_ensure_template()}"')
    else:
        _admin_exec(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url_for(name)
    finally:
        _admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sqlite_database(tmp_dir: str, migrated: bool = True) -> Iterator[str]:
    url = f"sqlite:///{tmp_dir}/switchgear-{next(_counter)}.db"
    if migrated:
        from switchgear.store import migrate

        migrate.upgrade(url)
    yield url


def drop_template() -> None:
    global _template
    if _template is not None:
        _admin_exec(f'DROP DATABASE IF EXISTS "{_template}" WITH (FORCE)')
        _template = None
