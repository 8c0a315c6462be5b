"""The admin API wired to this process's services: the store, the identity directory
(reloaded before a change is acknowledged) and the audit record (admin events written
to the same hash chain as requests, and read back per organisation)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec

from switchgear.admin.api import AdminApi, AdminEvent
from switchgear.admin.schemas import AuditFilter
from switchgear.audit import store as audit_store
from switchgear.audit import verify as audit_verify
from switchgear.audit.entry import AuditEntry
from switchgear.core.errors import GatewayError
from switchgear.identity import repository as repo
from switchgear.services import Services
from switchgear.store.database import Conn, Database

_DAY = 86_400.0


def admin_entry(e: AdminEvent) -> AuditEntry:
    p = e.principal
    return AuditEntry(
        ts=time.time(), kind="admin", action=e.action, decision=e.decision, rule=e.rule,
        org_id=p.org_id, principal_id=p.id, principal_name=p.name, principal_kind=p.kind,
        agent_id=p.id if p.kind == "agent" else None, agent_name=p.name if p.kind == "agent" else None,
        credential_id=p.key_id, status=e.status, error_code=e.rule if e.decision == "deny" else None,
        target=e.target, details={**e.details, "method": e.method, "path": e.path}, client_ip=e.client_ip,
    )


class StoreRecords:
    """admin.record.AuditRecords over the audit store, always scoped to one org."""

    def __init__(self, db: Database, services: Services) -> None:
        self.db = db
        self.services = services

    async def query(self, f: AuditFilter) -> list[dict[str, Any]]:
        rows = await self.db.run(
            audit_store.query, f.since, f.until, f.principal_id, f.credential_id, f.agent_id, f.action,
            f.decision, f.limit if f.limit is not None else 1000, f.after_seq or 0, f.org_id,
        )
        return [{"seq": r.seq, "hash": r.hash, "prev_hash": r.prev_hash, **msgspec.to_builtins(r.entry)} for r in rows]

    async def export(self, f: AuditFilter) -> bytes:
        out: list[bytes] = []
        after = f.after_seq or 0
        while True:  # one org's entries, page by page
            page = await self.db.run(
                audit_store.query, f.since, f.until, f.principal_id, f.credential_id, f.agent_id, f.action,
                f.decision, 5000, after, f.org_id,
            )
            for r in page:
                out.append(msgspec.json.encode(
                    {"seq": r.seq, "hash": r.hash, "prev_hash": r.prev_hash, **msgspec.to_builtins(r.entry)}
                ) + b"\n")
            if len(page) < 5000:
                return b"".join(out)
            after = page[-1].seq

    async def verify(self) -> dict[str, Any]:
        # The chain is one for every org: its integrity is a yes/no for all.
        report = await asyncio.to_thread(audit_verify.verify, self.db, self._public_keys())
        return msgspec.to_builtins(report)  # type: ignore[no-any-return]

    def _public_keys(self) -> Any:
        signer = self.services.signer
        return None if signer is None else [signer.public_key]

    async def access_review(self, org_id: str, window_days: int, unused_days: int) -> dict[str, Any]:
        now = time.time()
        since = now - window_days * _DAY

        def read(conn: Conn) -> tuple[list[repo.ApiKey], audit_store.UsageReport, audit_store.LastSeen]:
            return repo.list_keys(conn, org_id), audit_store.usage(conn, since, None), audit_store.last_seen(conn)

        keys, usage, seen = await self.db.run(read)
        principals = self.services.directory.tables.principals
        entries = []
        for k in keys:
            if k.revoked_at is not None or (k.expires_at is not None and k.expires_at <= now):
                continue  # nothing left to take back
            p = principals.get(k.principal_id)
            if p is None:
                continue  # a disabled principal's keys already do nothing
            used = usage.by_credential.get(k.prefix)
            last = seen.credentials.get(k.prefix)
            grants = p.rights.grants
            entries.append({
                "credential_id": k.prefix, "key_id": k.id, "principal_id": p.id, "principal_kind": p.kind,
                "principal_name": p.name,
                "granted_models": sorted({m for g in grants for m in g.models}),
                "granted_endpoints": sorted({e for g in grants for e in g.endpoints}),
                "used_models": used.models if used else [], "used_endpoints": used.endpoints if used else [],
                "last_used_at": last,
                "unused": last is None or last < now - unused_days * _DAY,
                "expires_at": k.expires_at,
            })
        return {"org_id": org_id, "generated_at": now, "window_days": window_days, "unused_days": unused_days,
                "entries": entries}


class WiredAdminApi(AdminApi):
    def audit_unauthenticated(self, method: str, path: str, err: GatewayError, client: Any) -> None:
        """An admin request that never got a principal: recorded all the same."""
        submit = self._submit
        if submit is not None:
            submit(AuditEntry(
                ts=time.time(), kind="admin", action="unauthenticated", decision="deny", rule=err.code,
                status=err.status, error_code=err.code, details={"method": method, "path": path[:200]},
                client_ip=client[0] if client else None,
            ))

    _submit: Any = None


def admin_api(services: Services) -> WiredAdminApi:
    assert services.db is not None
    writer = services.audit

    def audit(event: AdminEvent) -> None:
        if writer is not None:
            writer.submit(admin_entry(event))

    async def on_change() -> None:
        await services.directory.load(force=True)

    api = WiredAdminApi(services.db, audit, on_change, StoreRecords(services.db, services))
    api._submit = writer.submit if writer is not None else None
    return api

