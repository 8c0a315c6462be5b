"""May this caller make this request? Deny by default.

One grant must cover the endpoint, the model, the ``max_tokens`` asked for and the data
classes declared (identity.rights). An agent acting for a user must be covered by its
own scopes *and* by the user's rights. A request that asks for no ``max_tokens`` under a
grant that caps it is given the cap. The grant's regions feed the placement rules.
Denials are 403s naming the missing grant; the allowing grant is kept for the record.
"""

from __future__ import annotations

from switchgear.core.context import RequestContext
from switchgear.core.errors import PermissionDenied
from switchgear.identity.principal import Principal
from switchgear.identity.rights import Denied, Grant
from switchgear.routing.placement import Requirements
from switchgear.stages.candidates import HEADER_DATA_CLASS


class GrantMissing(PermissionDenied):
    code = "grant_missing"


def declared_classes(headers: dict[str, str]) -> frozenset[str] | None:
    v = headers.get(HEADER_DATA_CLASS)
    if v is None:
        return None
    return frozenset(c.strip().lower() for c in v.split(",") if c.strip()) or None


def check(p: Principal, endpoint: str, model: str | None, max_tokens: int | None,
          classes: frozenset[str] | None, whose: str) -> Grant:
    d = p.rights.decide(endpoint, model, max_tokens, classes)
    if isinstance(d, Denied):
        raise GrantMissing(f"{whose} has no grant for this request: it needs {d.missing}", code=d.code)
    return d


class Authorize:
    name = "authorize"
    __slots__ = ("endpoint", "token_field")

    def __init__(self, endpoint: str, token_field: str | None) -> None:
        self.endpoint = endpoint  # chat | messages | embeddings
        # Where the request carries max_tokens, and where a cap is written when it doesn't.
        self.token_field = token_field

    def on_request(self, ctx: RequestContext) -> None:
        p: Principal = ctx.principal
        user = p.acting_for
        model = ctx.model
        raw = ctx.raw
        asked = None
        if self.token_field is not None and raw is not None:
            asked = raw.get(self.token_field)
            if self.token_field == "max_completion_tokens":
                # Chat takes both spellings and vendors read one or the other: judge the larger.
                legacy = raw.get("max_tokens")
                if legacy is not None and (asked is None or (type(legacy) is int and type(asked) is int and legacy > asked)):
                    asked = legacy
            if asked is None:
                cap = p.rights.token_cap(self.endpoint, model)
                if user is not None:
                    ucap = user.rights.token_cap(self.endpoint, model)
                    cap = ucap if cap is None else cap if ucap is None else min(cap, ucap)
                if cap is not None:
                    raw[self.token_field] = asked = cap
            elif type(asked) is not int:
                asked = None  # the dialect's own validation reports the wrong type later
        classes = declared_classes(ctx.headers) if HEADER_DATA_CLASS in ctx.headers else None
        g = check(p, self.endpoint, model, asked, classes, p.label)
        requirements = p.requirements
        if g.regions is not None:
            requirements = Requirements.of(regions=g.regions).merge(requirements)
        rule = g.id
        team = g.team
        if user is not None:
            ug = check(user, self.endpoint, model, asked, classes,
                       f"user '{user.name}' (on whose behalf {p.kind} '{p.name}' acts)")
            if ug.regions is not None:
                requirements = Requirements.of(regions=ug.regions).merge(requirements)
            rule = f"{g.id}&{ug.id}"
            team = ug.team  # the user's team pays for what the agent does on their behalf
        ctx.rule = rule
        ctx.team_id = team
        ctx.requirements = requirements

    def on_complete(self, ctx: RequestContext) -> None:
        pass
