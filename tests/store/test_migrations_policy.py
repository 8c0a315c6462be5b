"""Migrations stay safe for rolling upgrades, and a gateway never runs on an old schema."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import yaml

from switchgear.store import migrate

MIGRATIONS = Path(str(resources.files("switchgear.store") / "migrations"))
# A forward migration only adds: old and new gateway processes share the database while
# a deployment rolls. Dropping or renaming waits for a release after the last reader.
DESTRUCTIVE = re.compile(r"\b(DROP\s+(TABLE|COLUMN|INDEX)|RENAME\s+|ALTER\s+COLUMN|ALTER\s+TABLE\s+\S+\s+DROP)\b", re.I)


def test_forward_migrations_only_add() -> None:
    forward = [p for p in MIGRATIONS.glob("*.sql") if not p.name.endswith(".rollback.sql")]
    assert forward, "no migrations found"
    for p in forward:
        sql = "\n".join(line for line in p.read_text().splitlines() if not line.strip().startswith("--"))
        assert not DESTRUCTIVE.search(sql), f"{p.name} is destructive: not safe during a rolling upgrade"


def test_every_migration_has_a_rollback() -> None:
    for p in MIGRATIONS.glob("*.sql"):
        if not p.name.endswith(".rollback.sql"):
            assert (MIGRATIONS / p.name.replace(".sql", ".rollback.sql")).exists(), p.name


def test_the_gateway_refuses_a_schema_older_than_its_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    migrate.upgrade(url)
    # Roll the newest migration back: this database is now one release behind the code.
    backend = migrate._backend(url)
    try:
        with backend.lock():
            newest = [m for m in migrate._migrations() if backend.is_applied(m)][-1:]
            backend.rollback_migrations(newest)
    finally:
        backend.connection.close()
    assert migrate.pending(url) == ["0003_spend"]
    cfg = tmp_path / "sg.yaml"
    cfg.write_text(yaml.safe_dump({"store": {"url": url}}))
    out = subprocess.run([sys.executable, "-m", "switchgear.cli", "serve", "--config", str(cfg), "--port", "0"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "needs migrations 0003_spend" in out.stderr and "switchgear db upgrade" in out.stderr
    up = subprocess.run([sys.executable, "-m", "switchgear.cli", "db", "upgrade", "--store", url],
                        capture_output=True, text=True, timeout=30)
    assert up.returncode == 0 and "applied 0003_spend" in up.stdout
    assert migrate.pending(url) == []
