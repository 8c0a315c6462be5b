"""GET /admin/v1/spend: the caller's organisation's spend, grouped one way, with a total.

org_admin, auditor and viewer read the whole organisation's spend; a team admin reads
only spend charged to the teams they administer (the ledger's ``team_id``: the team
whose grant allowed the request), and asking for another team is a 403.
"""

from __future__ import annotations

import time

from switchgear.admin import authz
from switchgear.admin.call import Call, parse_time
from switchgear.admin.schemas import SpendQuery, SpendReport
from switchgear.core.errors import InvalidRequest
from switchgear.spend import ledger
from switchgear.store.database import Conn

DEFAULT_WINDOW_S = 30 * 86_400.0


def _team_ids(call: Call, team_id: str | None) -> tuple[str, ...] | None:
    if not call.scoped:
        return None if team_id is None else (team_id,)
    if team_id is not None:
        authz.require_team(call.action, call.principal, team_id)
        return (team_id,)
    return tuple(sorted(call.principal.team_admin_of))


async def report(call: Call) -> SpendReport:
    q: SpendQuery = call.query
    until = parse_time(q.until, "until")
    until = time.time() if until is None else until
    since = parse_time(q.since, "since")
    since = until - DEFAULT_WINDOW_S if since is None else since
    if since >= until:
        raise InvalidRequest("since must be before until", param="since")
    filters = ledger.SpendFilter(
        team_ids=_team_ids(call, q.team_id), principal_id=q.principal_id, user_id=q.user_id, agent_id=q.agent_id,
        credential_id=q.credential_id, model=q.model, provider=q.provider,
    )

    def read(conn: Conn) -> tuple[list[ledger.SpendRow], ledger.SpendTotals]:
        # One transaction: the rows and the total describe the same ledger.
        rows = ledger.aggregate(conn, call.org_id, q.group_by, since, until, filters, limit=q.limit + 1)
        return rows, ledger.total(conn, call.org_id, since, until, filters)

    rows, total = await call.db.run(read)
    return SpendReport(group_by=q.group_by, since=since, until=until, data=rows[: q.limit], total=total,
                       has_more=len(rows) > q.limit)
