"""The durable store's connection layer: one interface, two backends.

    sqlite:///path/to/switchgear.db     the embedded default (nothing to install)
    postgresql://user@host:5432/dbname  production (many gateway processes)

Repository code is plain synchronous functions over a ``Conn`` (``fn(conn, *args)``);
``Database.run`` executes one in a worker thread inside one transaction, so the event
loop never blocks on disk or network, and a whole batch (an audit flush, a key rotation)
costs one thread hop and one commit. SQL is written once with ``?`` placeholders and
translated for psycopg.

Nothing here is on the request path: the data plane reads identities from an in-process
snapshot (identity.directory) and writes audit entries through a bounded queue.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, Literal, ParamSpec, TypeVar
from urllib.parse import urlsplit

P = ParamSpec("P")
T = TypeVar("T")

Dialect = Literal["sqlite", "postgresql"]


class StoreError(Exception):
    """The store is unreachable or refused an operation (the message is safe to log)."""


class IntegrityViolation(StoreError):
    """A uniqueness or reference constraint failed (a duplicate name, an unknown id)."""


@lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    # Our SQL never contains a literal '?' or '%'; psycopg wants %s.
    return sql.replace("%", "%%").replace("?", "%s")


class Conn:
    """A connection inside one transaction. ``dialect`` lets the rare statement differ."""

    __slots__ = ("raw", "dialect")

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self.raw = raw
        self.dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        # Constraint failures become IntegrityViolation here, so repository code can turn
        # them into its own errors (on PostgreSQL the transaction is then aborted: raise).
        try:
            if self.dialect == "postgresql":
                return self.raw.execute(_pg_sql(sql), params)
            return self.raw.execute(sql, params)
        except sqlite3.IntegrityError as e:
            raise IntegrityViolation(str(e)) from None
        except Exception as e:
            if self.dialect == "postgresql":
                import psycopg

                if isinstance(e, psycopg.errors.IntegrityError):
                    raise IntegrityViolation(e.diag.message_primary or str(e)) from None
            raise

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.dialect == "postgresql":
            with self.raw.cursor() as cur:
                cur.executemany(_pg_sql(sql), list(rows))
        else:
            self.raw.executemany(sql, rows)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.execute(sql, params).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row = self.execute(sql, params).fetchone()
        return tuple(row) if row is not None else None

    def lock_clause(self) -> str:
        """``FOR UPDATE`` where it exists. SQLite needs none: writers hold the database lock."""
        return " FOR UPDATE" if self.dialect == "postgresql" else ""


def _sqlite_path(url: str) -> str:
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url[len("sqlite://"):]
    return path or ":memory:"


def dialect_of(url: str) -> Dialect:
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise StoreError(f"unsupported store url scheme {scheme!r}: use sqlite:///path or postgresql://…")


def redact(url: str) -> str:
    """The url without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


class Database:
    """A store url opened for use. ``await db.run(fn, *args)`` runs ``fn(conn, *args)`` in
    one transaction on a worker thread: committed if it returns, rolled back if it raises."""

    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        self.url = url
        self.dialect: Dialect = dialect_of(url)
        self._closed = False
        if self.dialect == "sqlite":
            path = _sqlite_path(url)
            if path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._path = path
            # One writer at a time is SQLite's model: one thread, one connection.
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sg-sqlite")
            self._local = threading.local()
        else:
            from psycopg_pool import ConnectionPool

            self._executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="sg-pg")
            self._pool = ConnectionPool(
                _pg_url(url), min_size=1, max_size=pool_size, open=False, timeout=10.0,
                kwargs={"autocommit": False, "connect_timeout": 5},
            )
            self._opened = False
            self._open_lock = threading.Lock()  # many first calls at once open the pool once

    # ---- running work -----------------------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreError("store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn, args)

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """For the CLI and start-up checks, where there is no loop to protect."""
        return self._executor.submit(self._call, fn, args).result()

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            if self.dialect == "sqlite":
                return self._call_sqlite(fn, args)
            return self._call_pg(fn, args)
        except StoreError:
            raise
        except sqlite3.IntegrityError as e:
            raise IntegrityViolation(str(e)) from None
        except sqlite3.Error as e:
            raise StoreError(f"sqlite: {e}") from None
        except Exception as e:
            import psycopg

            if isinstance(e, psycopg.errors.IntegrityError):
                raise IntegrityViolation(e.diag.message_primary or str(e)) from None
            if isinstance(e, psycopg.Error):
                raise StoreError(f"postgresql: {e.diag.message_primary or e}") from None
            raise

    def _sqlite_conn(self) -> sqlite3.Connection:
        raw = getattr(self._local, "conn", None)
        if raw is None:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a transaction
            # takes the write lock up front and never fails half-way on a lock upgrade.
            raw = sqlite3.connect(self._path, timeout=10.0, isolation_level=None, check_same_thread=False)
            raw.execute("PRAGMA busy_timeout=10000")
            # WAL is a property of the file (set by migrate.upgrade); switching to it needs a
            # moment alone with the file, so only a connection that finds it unset asks.
            if raw.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                raw.execute("PRAGMA journal_mode=WAL")
            raw.execute("PRAGMA synchronous=NORMAL")
            raw.execute("PRAGMA foreign_keys=ON")
            self._local.conn = raw
        return raw

    def _call_sqlite(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        raw = self._sqlite_conn()
        raw.execute("BEGIN IMMEDIATE")
        try:
            out = fn(Conn(raw, "sqlite"), *args)
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")
        return out

    def _call_pg(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if not self._opened:
            with self._open_lock:
                self._open_pool()
        with self._pool.connection() as raw:  # commits on success, rolls back on error
            return fn(Conn(raw, "postgresql"), *args)

    def _open_pool(self) -> None:
        if not self._opened:
            try:
                import psycopg

                # One direct connect first: a refused connection fails now, with the
                # driver's reason, rather than after the pool's whole wait.
                psycopg.connect(_pg_url(self.url), connect_timeout=5).close()
                self._pool.open(wait=True, timeout=10.0)
            except Exception as e:
                raise StoreError(f"postgresql: cannot connect to {redact(self.url)}: {e}") from None
            self._opened = True

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self._shutdown)

    def close_sync(self) -> None:
        if not self._closed:
            self._closed = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self.dialect == "sqlite":
            def close_conn() -> None:
                raw = getattr(self._local, "conn", None)
                if raw is not None:
                    raw.close()
                    self._local.conn = None

            self._executor.submit(close_conn).result()
            self._executor.shutdown(wait=True)
        else:
            self._executor.shutdown(wait=True)
            if self._opened:
                self._pool.close()


def _pg_url(url: str) -> str:
    """psycopg takes postgresql:// (yoyo's 'postgresql+psycopg://' spelling is accepted too)."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep else url
