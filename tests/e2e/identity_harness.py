"""Gateways with a real store: the identity, admin and audit end-to-end tests' fixture.

``Deployment`` migrates a fresh store (SQLite file or PostgreSQL database), bootstraps an
organisation with an org admin straight through the repository (as `switchgear db
bootstrap` does), and starts N real gateway processes sharing that store and one audit
signing key, in front of the simulator. ``admin()`` calls the admin API over HTTP.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from switchgear.identity import repository as repo
from switchgear.store.database import Database
from tests.e2e.harness import GatewayProcess, gateway_config


class Deployment:
    def __init__(self, store_url: str, sim_url: str, workdir: Path, processes: int = 1,
                 audit: dict[str, Any] | None = None, auth: dict[str, Any] | None = None) -> None:
        self.store_url = store_url
        self.workdir = workdir
        db = Database(store_url)
        try:
            def boot(conn):  # type: ignore[no-untyped-def]
                org = repo.create_org(conn, "acme")
                admin = repo.create_principal(conn, org.id, "user", "root", role="org_admin")
                _, secret = repo.create_key(conn, org.id, admin.id, "bootstrap")
                return org, admin, secret

            self.org, self.admin_principal, self.admin_key = db.run_sync(boot)
        finally:
            db.close_sync()
        cfg = gateway_config(sim_url)
        cfg["auth"] = {"keys": [], **(auth or {})}
        cfg["store"] = {"url": store_url, "refresh_interval_s": 30}
        cfg["audit"] = {"signing_key_file": str(workdir / "audit-key.pem"), "flush_interval_ms": 50,
                        **(audit or {})}
        self.config = cfg
        self.gateways: list[GatewayProcess] = []
        for i in range(processes):
            d = workdir / f"gw{i}"
            d.mkdir(exist_ok=True)
            self.gateways.append(GatewayProcess(cfg, d))

    @property
    def url(self) -> str:
        return self.gateways[0].url

    def admin(self, method: str, path: str, body: Any = None, key: str | None = None,
              url: str | None = None) -> tuple[int, Any]:
        """(status, decoded JSON or text) of an admin API call."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{url or self.url}{path}", data=data, method=method)
        req.add_header("authorization", f"Bearer {key or self.admin_key}")
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw, status = resp.read(), resp.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode()

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, out = self.admin(method, path, body, **kw)
        assert status < 300, (status, out)
        return out

    # ---- common set-ups ------------------------------------------------------------------

    def service_account(self, name: str, models: list[str], endpoints: list[str] | None = None,
                        **grant: Any) -> tuple[dict[str, Any], str]:
        """A service account in a team of its own, granted ``models``; (principal, key secret)."""
        team = self.ok("POST", "/admin/v1/teams", {"name": f"team-{name}"})
        sa = self.ok("POST", "/admin/v1/service-accounts", {"name": name})
        self.ok("POST", f"/admin/v1/teams/{team['id']}/members", {"principal_id": sa["id"]})
        self.ok("POST", "/admin/v1/grants", {"subject_type": "team", "subject_id": team["id"], "models": models,
                                             "endpoints": endpoints or ["chat", "messages", "embeddings", "models"],
                                             **grant})
        key = self.ok("POST", "/admin/v1/keys", {"principal_id": sa["id"], "name": f"{name}-key"})
        return sa, key["key"]

    def stop(self) -> None:
        for g in self.gateways:
            if g.proc.poll() is None:
                g.stop()
