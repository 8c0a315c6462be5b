"""Who is calling: the verified identity a request carries (``ctx.principal``).

Built once per credential when the identity snapshot loads (identity.directory), so
authenticating a request is a dict lookup that returns a ready object. The only
per-request construction is for an agent acting for a user (``acting_for`` set).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from switchgear.identity.rights import NO_RIGHTS, Rights

ORG_ROLES = ("org_admin", "auditor", "viewer")


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    kind: str  # user | service_account | agent | config (a key listed in the config file)
    name: str
    key_id: str  # the credential's non-secret id (key prefix, "jwt:…"), for records
    org_id: str | None = None
    role: str | None = None  # org role: org_admin | auditor | viewer
    teams: frozenset[str] = frozenset()  # team ids
    team_admin_of: frozenset[str] = frozenset()
    rights: Rights = field(default=NO_RIGHTS, compare=False)
    requirements: Any = None  # routing.placement.Requirements from the key's config, if any
    on_behalf_of: str | None = None  # agents: required | optional | forbidden
    owner_id: str | None = None  # agents: the user who owns it
    expires_at: float | None = None  # the credential's expiry (keys, JWTs)
    acting_for: Principal | None = None  # an agent's verified on-behalf-of user (per request)

    def acting(self, user: Principal) -> Principal:
        return replace(self, acting_for=user)

    @property
    def label(self) -> str:
        """How errors name the caller: kind, name and credential id — never a secret."""
        return f"{self.kind} '{self.name}' (credential {self.key_id})"
