"""Who may do what on the admin API: one explicit table, deny by default.

    role          may
    org_admin     everything in their organisation
    team_admin    (scoped to the teams they administer)
                  read their teams, members, the members' principals, keys and grants;
                  add/remove plain members; create/rotate/revoke keys of principals
                  wholly inside their teams; create/delete grants for their teams or
                  members, never beyond the team's own grants; read spend
                  charged to their teams
    auditor       read the audit record, the access review and spend (read-only)
    viewer        read teams, principals, keys, grants and spend (never the audit record)
    (none)        nothing: a data-plane key reaches no admin route, not even whoami —
                  a leaked application key must not learn the organisation's layout

Every role may call ``whoami`` and read ``openapi``. Only org_admin sets org roles or
team_admin membership. Denials are ``Forbidden`` (403) whose message names the role or
grant that is missing — built from ids and role names only, never from a secret.

The table decides by role alone; a ``team_admin`` allowance is *scoped* and the
handler must then prove the object is the admin's (``require_*`` below, over rows
read in the same transaction as the change).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from switchgear.core.errors import PermissionDenied
from switchgear.identity.principal import Principal
from switchgear.identity.repository import Grant

ORG_ADMIN = "org_admin"
TEAM_ADMIN = "team_admin"
AUDITOR = "auditor"
VIEWER = "viewer"

_ANY = (ORG_ADMIN, AUDITOR, VIEWER, TEAM_ADMIN)
_READ = (ORG_ADMIN, VIEWER, TEAM_ADMIN)
_MANAGE = (ORG_ADMIN, TEAM_ADMIN)
_ADMIN = (ORG_ADMIN,)
_RECORD = (ORG_ADMIN, AUDITOR)
_SPEND = (ORG_ADMIN, AUDITOR, VIEWER, TEAM_ADMIN)  # team_admin: scoped to spend charged to their teams

RULES: dict[str, tuple[str, ...]] = {
    "whoami": _ANY,
    "openapi.get": _ANY,
    "teams.create": _ADMIN,
    "teams.list": _READ,
    "teams.get": _READ,
    "teams.members.list": _READ,
    "teams.members.add": _MANAGE,
    "teams.members.remove": _MANAGE,
    **{f"{kind}.{op}": roles for kind in ("users", "service_accounts", "agents") for op, roles in (
        ("create", _ADMIN), ("list", _READ), ("get", _READ), ("update", _ADMIN))},
    "keys.create": _MANAGE,
    "keys.list": _READ,
    "keys.get": _READ,
    "keys.rotate": _MANAGE,
    "keys.revoke": _MANAGE,
    "grants.create": _MANAGE,
    "grants.list": _READ,
    "grants.get": _READ,
    "grants.delete": _MANAGE,
    "audit.query": _RECORD,
    "audit.export": _RECORD,
    "audit.verify": _RECORD,
    "access_review.get": _RECORD,
    "spend.query": _SPEND,
}


class Forbidden(PermissionDenied):
    """403: the caller lacks the role or scope the action needs (message names it)."""


@dataclass(frozen=True, slots=True)
class Allowed:
    rule: str  # the role that allows it: recorded in the audit event
    scoped: bool  # team_admin: the handler must check the object is in the admin's teams


def roles_of(p: Principal) -> tuple[str, ...]:
    """The admin roles a caller holds. Agents hold none (an agent cannot be an admin),
    and a caller outside any organisation (a config-file key) holds none."""
    if p.org_id is None or p.kind == "agent" or p.acting_for is not None:
        return ()
    roles: list[str] = []
    if p.role in (ORG_ADMIN, AUDITOR, VIEWER):
        roles.append(p.role)
    if p.team_admin_of:
        roles.append(TEAM_ADMIN)
    return tuple(roles)


def _phrase(roles: Iterable[str]) -> str:
    return " or ".join(f"{TEAM_ADMIN} (of the object's team)" if r == TEAM_ADMIN else r for r in roles)


def _held(p: Principal) -> str:
    held = roles_of(p)
    return f"caller holds {', '.join(held)}" if held else "caller holds no admin role"


def decide(p: Principal, action: str) -> Allowed:
    """Allowed by an unscoped role if one fits, else by team_admin (scoped); else Forbidden."""
    needed = RULES.get(action)
    if needed is None:  # an action missing from the table is denied, not open
        raise Forbidden(f"permission denied: {action} is not granted to any role")
    held = roles_of(p)
    for role in held:
        if role != TEAM_ADMIN and role in needed:
            return Allowed(role, scoped=False)
    if TEAM_ADMIN in held and TEAM_ADMIN in needed:
        return Allowed(TEAM_ADMIN, scoped=True)
    raise Forbidden(f"permission denied: {action} requires role {_phrase(needed)}; {_held(p)}")


def actions_for(p: Principal) -> list[str]:
    held = set(roles_of(p))
    return sorted(a for a, roles in RULES.items() if held & set(roles))


# ---- team_admin scope ------------------------------------------------------------------


def require_team(action: str, p: Principal, team_id: str) -> None:
    if team_id not in p.team_admin_of:
        raise Forbidden(f"permission denied: {action} requires role org_admin or team_admin of team {team_id}")


def require_member(action: str, p: Principal, principal_id: str, teams: Iterable[str]) -> None:
    """``principal_id`` (who belongs to ``teams``) must be in a team ``p`` administers."""
    if not p.team_admin_of & set(teams):
        raise Forbidden(
            f"permission denied: {action} on principal {principal_id} requires role org_admin "
            f"or team_admin of a team {principal_id} belongs to"
        )


def require_key_holder(
    action: str, p: Principal, principal_id: str, role: str | None, teams: Iterable[str],
) -> None:
    """A team admin manages keys only of principals wholly inside their teams: a key
    carries all of its holder's rights, so a holder with an org role, or in a team the
    admin does not run, would hand the admin more than they have."""
    teams = set(teams)
    require_member(action, p, principal_id, teams)
    if role is not None:
        raise Forbidden(f"permission denied: {action} for principal {principal_id} requires role org_admin "
                        f"({principal_id} holds org role {role})")
    outside = sorted(teams - p.team_admin_of)
    if outside:
        raise Forbidden(f"permission denied: {action} for principal {principal_id} requires role org_admin "
                        f"or team_admin of every team it belongs to (also in {', '.join(outside)})")


# ---- "never beyond the team's own rights" ------------------------------------------------


def pattern_covers(outer: str, inner: str) -> bool:
    """Does model pattern ``outer`` match every model ``inner`` matches?
    "*" covers all; "p/*" covers "p/x" and "p/q/*"; an exact name covers only itself."""
    if outer == "*":
        return True
    if inner == "*":
        return False
    if outer.endswith("*"):
        return inner.removesuffix("*").startswith(outer[:-1])
    return not inner.endswith("*") and inner == outer


def _covers(holder: Grant, model: str, endpoint: str, max_tokens: int | None,
            data_classes: Sequence[str] | None, regions: Sequence[str] | None) -> bool:
    # The same single-grant rule as rights.decide: dimensions are not mixed across grants.
    if endpoint not in holder.endpoints or not any(pattern_covers(m, model) for m in holder.models):
        return False
    if holder.max_tokens is not None and (max_tokens is None or max_tokens > holder.max_tokens):
        return False
    if holder.data_classes is not None and (
        data_classes is None or not {c.lower() for c in data_classes} <= {c.lower() for c in holder.data_classes}
    ):
        return False
    return holder.regions is None or (regions is not None and set(regions) <= set(holder.regions))


def uncovered(
    models: Sequence[str], endpoints: Sequence[str], max_tokens: int | None,
    data_classes: Sequence[str] | None, regions: Sequence[str] | None, held: Sequence[Grant],
) -> str | None:
    """None if every (model pattern, endpoint) of a new grant is covered by one of the
    ``held`` grants with limits at least as wide; else the first part that is not."""
    for model in models:
        for endpoint in endpoints:
            if not any(_covers(g, model, endpoint, max_tokens, data_classes, regions) for g in held):
                what = f"model '{model}' on endpoint '{endpoint}'"
                if max_tokens is None:
                    what += " without a max_tokens limit"
                else:
                    what += f" with max_tokens {max_tokens}"
                if data_classes is not None:
                    what += f" for data classes {', '.join(data_classes)}"
                if regions is not None:
                    what += f" in regions {', '.join(regions)}"
                return what
    return None


def require_within(action: str, teams: Sequence[str], held: Sequence[Grant], models: Sequence[str],
                   endpoints: Sequence[str], max_tokens: int | None, data_classes: Sequence[str] | None,
                   regions: Sequence[str] | None) -> None:
    missing = uncovered(models, endpoints, max_tokens, data_classes, regions, held)
    if missing is not None:
        raise Forbidden(f"permission denied: {action} requires role org_admin: {missing} is not covered "
                        f"by a grant of team {', '.join(sorted(teams)) or '(none)'}")
