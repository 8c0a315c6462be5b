"""Reads the admin API's authorization needs that identity.repository does not offer yet.

Kept to one tiny query so it can move into the repository as is (proposed there as
``memberships(conn, org_id, principal_id) -> list[Member]``). Everything else goes
through repository functions.
"""

from __future__ import annotations

from switchgear.identity import repository as repo
from switchgear.store.database import Conn


def memberships(conn: Conn, org_id: str, principal_id: str) -> dict[str, str]:
    """team id -> team role, for the teams (of ``org_id``) the principal belongs to."""
    rows = conn.all(
        "SELECT m.team_id, m.role FROM team_members m JOIN teams t ON t.id = m.team_id "
        "WHERE m.principal_id = ? AND t.org_id = ?",
        (principal_id, org_id),
    )
    return {r[0]: r[1] for r in rows}


def members_of(conn: Conn, org_id: str, team_ids: frozenset[str]) -> dict[str, set[str]]:
    """principal id -> the given teams it belongs to (teams gone since the caller's
    identity snapshot was taken are skipped, not an error)."""
    out: dict[str, set[str]] = {}
    for team_id in sorted(team_ids):
        try:
            members = repo.list_members(conn, org_id, team_id)
        except repo.NotFound:
            continue
        for m in members:
            out.setdefault(m.principal_id, set()).add(team_id)
    return out
