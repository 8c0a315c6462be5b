"""The in-process identity snapshot: every credential, verified without a database
round trip, and fresh on the next request after any change in any process.

The snapshot maps each key's SHA-256 digest to a ready ``Principal`` (its rights
already joined from its own and its teams' grants), so authenticating is one hash and
one dict lookup. Freshness, per backend:

- every change bumps ``identity_revision`` in its own transaction;
- PostgreSQL: a listener thread LISTENs on the revision channel; a NOTIFY marks the
  snapshot stale at once, and the next request awaits the reload (``stale``);
- SQLite (one host): a watcher thread reads ``PRAGMA data_version`` every millisecond
  (it says whether *another* connection committed anything) and marks the snapshot
  stale when the identity revision moved; the next request reloads first;
- in the process that made the change, the admin API reloads before it answers;
- a periodic check (``refresh_interval_s``) is the safety net for a lost NOTIFY.

If the store is unreachable the last snapshot keeps serving: no change can be written
to it either, so nothing it says is stale.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from switchgear.core.errors import AuthenticationFailed
from switchgear.identity import keys as keygen
from switchgear.identity import repository as repo
from switchgear.identity.principal import Principal
from switchgear.identity.rights import Rights, grant
from switchgear.store.database import Conn, Database, StoreError

log = logging.getLogger("switchgear.identity")


@dataclass(frozen=True, slots=True)
class KeyEntry:
    principal: Principal | None  # None: the principal is disabled
    digest: bytes
    prefix: str
    expires_at: float | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class Tables:
    """One immutable snapshot; swapped whole, never mutated."""

    revision: int
    keys: dict[bytes, KeyEntry]
    principals: dict[str, Principal]  # id -> principal (credential-less: key_id "")
    users_by_external: dict[tuple[str, str], Principal]  # (org_id, external_id) -> user
    teams_by_name: dict[tuple[str, str], str]  # (org_id, team name) -> team id
    team_rights: dict[str, Rights]
    orgs_by_name: dict[str, str]
    disabled_external: frozenset[tuple[str, str]] = frozenset()  # disabled users' (org_id, external_id)
    team_names: dict[str, str] = field(default_factory=dict)  # team id -> name
    org_names: dict[str, str] = field(default_factory=dict)  # org id -> name


EMPTY = Tables(0, {}, {}, {}, {}, {}, {})


def build_tables(snap: repo.Snapshot) -> Tables:
    team_rights: dict[str, list] = {t.id: [] for t in snap.teams}
    own: dict[str, list] = {}
    for g in snap.grants:
        gr = grant(g.id, g.models, list(g.endpoints), g.max_tokens, g.data_classes, g.regions,
                   team=g.subject_id if g.subject_type == "team" else None)
        (team_rights if g.subject_type == "team" else own).setdefault(g.subject_id, []).append(gr)
    teams_of: dict[str, set[str]] = {}
    admin_of: dict[str, set[str]] = {}
    for m in snap.members:
        teams_of.setdefault(m.principal_id, set()).add(m.team_id)
        if m.role == "team_admin":
            admin_of.setdefault(m.principal_id, set()).add(m.team_id)
    principals: dict[str, Principal] = {}
    disabled: set[str] = set()
    users_by_external: dict[tuple[str, str], Principal] = {}
    disabled_external: set[tuple[str, str]] = set()
    for row in snap.principals:
        teams = frozenset(teams_of.get(row.id, ()))
        grants = list(own.get(row.id, ()))
        for t in sorted(teams):
            grants += team_rights.get(t, [])
        principal = Principal(
            id=row.id, kind=row.kind, name=row.name, key_id="", org_id=row.org_id, role=row.role, teams=teams,
            team_admin_of=frozenset(admin_of.get(row.id, ())), rights=Rights(tuple(grants)),
            on_behalf_of=row.on_behalf_of, owner_id=row.owner_id,
        )
        principals[row.id] = principal
        if row.disabled:
            disabled.add(row.id)
            if row.external_id:
                disabled_external.add((row.org_id, row.external_id))
        elif row.kind == "user" and row.external_id:
            users_by_external[(row.org_id, row.external_id)] = principal
    keys: dict[bytes, KeyEntry] = {}
    for k in snap.keys:
        digest = bytes.fromhex(k.digest)
        owner = principals.get(k.principal_id)
        holder: Principal | None = None
        if owner is not None and k.principal_id not in disabled:
            holder = replace(owner, key_id=k.prefix, expires_at=k.expires_at)
        keys[digest] = KeyEntry(holder, digest, k.prefix, k.expires_at, k.revoked_at is not None)
    return Tables(
        revision=snap.revision,
        keys=keys,
        principals={pid: p for pid, p in principals.items() if pid not in disabled},
        users_by_external=users_by_external,
        teams_by_name={(t.org_id, t.name): t.id for t in snap.teams},
        team_rights={tid: Rights(tuple(gs)) for tid, gs in team_rights.items()},
        orgs_by_name={o.name: o.id for o in snap.orgs},
        disabled_external=frozenset(disabled_external),
        team_names={t.id: t.name for t in snap.teams},
        org_names={o.id: o.name for o in snap.orgs},
    )


class Directory:
    """Credentials -> principals, from config keys and (when configured) the store."""

    def __init__(
        self, config_keys: dict[bytes, Principal], db: Database | None = None, *,
        refresh_interval_s: float = 5.0, clock: Callable[[], float] = time.time,
    ) -> None:
        self.config_keys = config_keys
        self.db = db
        self.tables = EMPTY
        self.stale = False  # set by a NOTIFY: the next request reloads first
        self.refresh_interval_s = refresh_interval_s
        self.clock = clock
        self._reload_lock: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        self._token_cache: dict[Any, tuple[Tables, Principal]] = {}

    # ---- lookup (the hot path) ----------------------------------------------------------

    def verify_key(self, secret: str) -> Principal:
        d = keygen.digest(secret)
        p = self.config_keys.get(d)
        if p is not None:
            return p
        entry = self.tables.keys.get(d)
        # The dict lookup is on a digest of the secret, and the digest is compared once
        # more in constant time: nothing about the secret leaks through timing.
        if entry is None or not hmac.compare_digest(entry.digest, d):
            raise AuthenticationFailed("invalid API key")
        if entry.revoked:
            raise AuthenticationFailed(f"API key {entry.prefix} has been revoked")
        if entry.expires_at is not None and entry.expires_at <= self.clock():
            raise AuthenticationFailed(f"API key {entry.prefix} has expired")
        if entry.principal is None:
            raise AuthenticationFailed(f"API key {entry.prefix} belongs to a disabled principal")
        return entry.principal

    def principal_for_token(self, ident: Any) -> Principal:
        """A verified OIDC identity (identity.oidc.OidcIdentity) as a principal: the store's
        user with that subject (and its grants) when there is one, plus the rights of the
        teams its claims map to, and the role its claims map to. Cached per token."""
        # Keyed by the whole verified identity: two tokens of one subject with different
        # claims (groups, roles) never share a principal.
        cached = self._token_cache.get(ident)
        tables = self.tables
        if cached is not None and cached[0] is tables:
            return cached[1]
        org_id = tables.orgs_by_name.get(ident.org) if ident.org else None
        base = None
        if org_id:
            # A store user is linked by external_id "<issuer>#<subject>" (or the bare subject).
            for ext in (f"{ident.issuer}#{ident.subject}", ident.subject):
                if (org_id, ext) in tables.disabled_external:
                    raise AuthenticationFailed(f"user '{ident.subject}' is disabled")
                base = tables.users_by_external.get((org_id, ext))
                if base is not None:
                    break
        rights = base.rights if base is not None else Rights()
        teams = set(base.teams) if base is not None else set()
        for name in ident.teams:
            tid = tables.teams_by_name.get((org_id, name)) if org_id else None
            if tid is not None and tid not in teams:
                teams.add(tid)
                rights = rights + tables.team_rights.get(tid, Rights())
        role = next((r for r in ("org_admin", "auditor", "viewer") if r in ident.roles), None)
        p = Principal(
            id=base.id if base is not None else f"jwt:{ident.issuer}#{ident.subject}",
            kind="user",
            name=(base.name if base is not None else ident.email or ident.name or ident.subject),
            key_id=ident.credential_id,
            org_id=org_id,
            role=role or (base.role if base is not None else None),
            teams=frozenset(teams),
            team_admin_of=base.team_admin_of if base is not None else frozenset(),
            rights=rights,
            expires_at=ident.expires_at,
        )
        if len(self._token_cache) >= 10_000:
            self._token_cache.clear()  # bounded; rebuilt on demand
        self._token_cache[ident] = (tables, p)
        return p

    def _watch_sqlite(self, path: str) -> None:
        """SQLite, in a thread of its own: notice another connection's commit (every
        millisecond; 2 µs a look) and mark the snapshot stale when the identity revision
        moved. Off the event loop: a look can wait on a writer's lock."""
        probe = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            last = probe.execute("PRAGMA data_version").fetchone()[0]
            while not self._stop.wait(0.001):
                try:
                    dv = probe.execute("PRAGMA data_version").fetchone()[0]
                    if dv == last:
                        continue
                    last = dv
                    if repo.current_revision(Conn(probe, "sqlite")) != self.tables.revision:
                        self.stale = True  # a plain flag: the loop reads it before each request
                except sqlite3.Error as e:
                    log.warning("identity change watch: %s", e)
                    self._stop.wait(1.0)
        finally:
            probe.close()

    # ---- loading ---------------------------------------------------------------------------

    async def load(self, force: bool = False) -> None:
        """Reload (one transaction), unless another reload already did. If the store is
        unreachable, keep the last snapshot: nothing can change in a store nobody reaches."""
        if self.db is None:
            return
        if self._reload_lock is None:
            self._reload_lock = asyncio.Lock()
        async with self._reload_lock:
            if not self.stale and self.tables is not EMPTY and not force:
                return  # a reload finished while we waited for the lock
            self.stale = False
            try:
                snap = await self.db.run(repo.load_snapshot)
            except StoreError as e:
                if self.tables is EMPTY and force:
                    raise  # at start: no snapshot to fall back on
                log.warning("identity reload failed (serving the last snapshot): %s", e)
                return
            if snap.revision != self.tables.revision or self.tables is EMPTY:
                self.tables = build_tables(snap)

    async def start(self) -> None:
        if self.db is None:
            return
        await self.load(force=True)
        loop = asyncio.get_running_loop()
        if self.db.dialect == "sqlite":
            from switchgear.store.database import _sqlite_path

            self._listener = threading.Thread(
                target=self._watch_sqlite, args=(_sqlite_path(self.db.url),), name="sg-identity-watch", daemon=True
            )
        else:
            self._listener = threading.Thread(target=self._listen, args=(loop,), name="sg-identity-listen", daemon=True)
        self._listener.start()
        self._tasks.append(loop.create_task(self._periodic()))

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        if self._listener is not None:
            await asyncio.to_thread(self._listener.join, 2.0)
            self._listener = None

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval_s)
            try:
                assert self.db is not None
                rev = await self.db.run(repo.current_revision)
                if rev != self.tables.revision:
                    await self.load(force=True)
            except StoreError as e:
                log.warning("identity refresh failed (serving the last snapshot): %s", e)

    def _mark_stale(self) -> None:
        self.stale = True

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """PostgreSQL LISTEN in a thread of its own; reconnects with backoff."""
        import psycopg

        from switchgear.store.database import _pg_url

        assert self.db is not None
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(_pg_url(self.db.url), autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {repo.NOTIFY_CHANNEL}")
                    # A change may have landed while we were not listening.
                    loop.call_soon_threadsafe(self._mark_stale)
                    backoff = 0.5
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            loop.call_soon_threadsafe(self._mark_stale)
            except Exception as e:  # noqa: BLE001 - keep listening whatever the driver says
                if self._stop.is_set():
                    return
                log.warning("identity change listener lost its connection (%s); retrying", e)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
