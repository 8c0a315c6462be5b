"""Spend records for the tests, and the ledger read back."""

from __future__ import annotations

from typing import Any

from switchgear.spend.record import SpendRecord
from switchgear.store.database import Database

T0 = 1_717_200_000.0  # 2024-06-01 00:00:00 UTC


def record(i: int, **kw: Any) -> SpendRecord:
    """Request ``i``: six hours after request i-1, spread over two orgs, three teams (one
    of them none), users, agents, keys, models and providers."""
    agent = f"agt_{i % 2}" if i % 3 == 0 else None
    fields: dict[str, Any] = {
        "ts": T0 + i * 6 * 3600.0,
        "request_id": f"req_{i:04d}",
        "org_id": "org_a" if i % 5 else "org_b",
        "principal_id": agent or f"usr_{i % 4}",
        "principal_kind": "agent" if agent else "user",
        "credential_id": f"sk-sg-key{i % 3:05d}",
        "agent_id": agent,
        "user_id": f"usr_{i % 4}",
        "team_id": (None, "team_ml", "team_web")[i % 3],
        "model": ("gpt-4o", "claude-sonnet", "gpt-4o-mini")[i % 3 if i % 7 else 0],
        "provider": "anthropic" if i % 3 == 1 and i % 7 else "openai",
        "deployment": f"dep-{i % 2}",
        "input_tokens": 100 + i,
        "output_tokens": 10 * i,
        "cached_input_tokens": i % 4,
        "cache_write_tokens": 3 * (i % 2),
        "reasoning_tokens": 2 * (i % 5),
        "cost_nano": 1_000 * i + 7,
        "estimated": i % 6 == 0,
        "cached": i % 8 == 0,
    }
    fields.update(kw)
    return SpendRecord(**fields)


def rows(db: Database) -> list[tuple[Any, ...]]:
    """(request_id, day, cost_nano) of every ledger row, by ts."""
    return db.run_sync(lambda c: c.all("SELECT request_id, day, cost_nano FROM spend_ledger ORDER BY ts"))
