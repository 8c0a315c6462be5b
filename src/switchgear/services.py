"""Process-wide services that outlive a config snapshot: the store, the identity
directory, the OIDC verifier and the audit writer.

Config-only mode (no ``store:`` in the config): identities are the config's keys, there
is no admin API and no durable audit record. With a store: the directory loads keys,
principals and grants from it; the admin API manages them; every request and admin
action goes to the hash-chained audit record.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from switchgear.config.schema import Config
from switchgear.identity.config_keys import config_key_table
from switchgear.identity.directory import Directory
from switchgear.store.database import Database, StoreError, dialect_of

log = logging.getLogger("switchgear")


@dataclass(slots=True)
class Services:
    directory: Directory
    oidc: Any = None  # identity.oidc.OidcVerifier
    db: Database | None = None
    audit: Any = None  # audit.writer.AuditWriter
    signer: Any = None  # audit.signing.Signer: signs checkpoints; its public key verifies them
    limits: Any = None  # limits.backend.LimitsBackend (memory, or Redis with its failure mode)
    spend: Any = None  # spend.writer.SpendWriter (with a store)
    cache: Any = None  # cache.entry.CacheStore (when some model opted in)
    alerts: Any = None  # limits.alerts.Alerts: soft-threshold alerts
    limit_stages: list[Any] = field(default_factory=list)  # stages.limits.Limits: settle on shutdown

    @property
    def live(self) -> bool:
        """Whether authentication may await (a store to watch, or tokens to verify)."""
        return self.db is not None or self.oidc is not None

    async def close(self) -> None:
        """Settle what is in flight, then flush the records: what a shutdown must not lose."""
        for stage in self.limit_stages:
            await stage.drain()
        if self.limits is not None:
            await self.limits.aclose()
        if self.alerts is not None:
            await self.alerts.aclose()
        if self.cache is not None:
            await self.cache.close()
        if self.spend is not None:
            await self.spend.stop()
        if self.audit is not None:
            await self.audit.stop()
        await self.directory.stop()
        if self.oidc is not None:
            await self.oidc.aclose()
        if self.db is not None:
            await self.db.close()


def config_only(cfg: Config) -> Services:
    oidc = None
    if cfg.auth.oidc:
        from switchgear.identity.oidc import OidcVerifier

        oidc = OidcVerifier(cfg.auth.oidc)
    services = Services(directory=Directory(config_key_table(cfg.auth.keys)), oidc=oidc)
    lim = cfg.limits
    if lim.budgets or lim.rate_limits:
        from switchgear.limits.alerts import Alerts
        from switchgear.limits.backend import open_backend

        services.limits = open_backend(
            backend=lim.backend, redis_url=lim.redis_url, key_prefix=lim.key_prefix,
            on_backend_error=lim.on_backend_error, backend_timeout_ms=lim.backend_timeout_ms,
        )
        services.alerts = Alerts(lim.alert_webhook)
    if any(m.cache is not None for m in cfg.models):
        from switchgear.cache.wiring import build_store

        services.cache = build_store(cfg.cache, cfg.limits)
    return services


def _is_new_sqlite(url: str) -> bool:
    from switchgear.store.database import _sqlite_path

    path = _sqlite_path(url)
    return path == ":memory:" or not os.path.exists(path) or os.path.getsize(path) == 0


def prepare_store(url: str) -> None:
    """Refuse a schema older than the code; create a brand-new embedded SQLite store."""
    from switchgear.store import migrate

    if dialect_of(url) == "sqlite" and _is_new_sqlite(url):
        os.makedirs(os.path.dirname(os.path.abspath(url.split("///", 1)[-1])) or ".", exist_ok=True)
        migrate.upgrade(url)
        return
    migrate.check(url)


async def open_services(cfg: Config) -> Services:
    """Start every service the config asks for (raises StoreError with a clear message)."""
    services = config_only(cfg)
    if cfg.store is None:
        return services
    url = cfg.store.url
    prepare_store(url)
    db = Database(url)
    directory = Directory(
        config_key_table(cfg.auth.keys), db, refresh_interval_s=cfg.store.refresh_interval_s
    )
    try:
        await directory.start()
    except StoreError:
        await db.close()
        raise
    services.db = db
    services.directory = directory
    if cfg.audit.enabled:
        from switchgear.audit.signing import Signer
        from switchgear.audit.writer import AuditWriter

        services.signer = signer = Signer.load_or_create(cfg.audit.signing_key_file)
        services.audit = AuditWriter(db, cfg.audit, signer)
        await services.audit.start()
    from switchgear.spend.writer import SpendWriter

    services.spend = SpendWriter(db, cfg.limits.timezone)
    await services.spend.start()
    if services.oidc is not None:
        await services.oidc.warm()
    return services
