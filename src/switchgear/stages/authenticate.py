"""Who is calling, and on whose behalf.

The credential comes from ``Authorization: Bearer`` or ``x-api-key`` (both accepted on
every endpoint: the Anthropic SDK can also send a bearer token). Keys in the query
string are never read: URLs end up in logs. A credential is a gateway API key (looked
up in the in-process identity snapshot: no database round trip) or, when OIDC issuers
are configured, a JWT.

An agent may act for a user by sending that user's own credential (key or JWT) in the
on-behalf-of header. Both are verified; the user must be a user of the agent's
organisation; authorize then holds the request to the intersection of both rights.
"""

from __future__ import annotations

from typing import Any

from switchgear.core.context import RequestContext
from switchgear.core.errors import AuthenticationFailed, PermissionDenied
from switchgear.identity.directory import Directory
from switchgear.identity.principal import Principal


class OnBehalfOfDenied(PermissionDenied):
    code = "on_behalf_of_denied"


def credential(headers: dict[str, str]) -> str:
    secret = headers.get("x-api-key")
    if secret is None:
        auth = headers.get("authorization")
        if auth is None:
            raise AuthenticationFailed(
                "missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'"
            )
        scheme, _, secret = auth.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthenticationFailed("malformed Authorization header: expected 'Bearer <key>'")
        secret = secret.strip()
    return secret


class Authenticate:
    """Keys only, no store changes to watch: the config-only mode (a plain call)."""

    name = "authenticate"
    __slots__ = ("directory", "oidc", "obo_header")

    def __init__(self, directory: Directory, oidc: Any = None, obo_header: str = "x-switchgear-on-behalf-of") -> None:
        self.directory = directory
        self.oidc = oidc  # identity.oidc.OidcVerifier or None
        self.obo_header = obo_header

    def on_request(self, ctx: RequestContext) -> None:
        p = self.directory.verify_key(credential(ctx.headers))
        if self.obo_header in ctx.headers:
            raise OnBehalfOfDenied(f"{p.label} is not an agent: only agents act on behalf of a user")
        ctx.principal = p

    def verify(self, headers: dict[str, str]) -> Principal:
        """Synchronous check for the small GET endpoints (model list) in config-only mode."""
        return self.directory.verify_key(credential(headers))

    def on_complete(self, ctx: RequestContext) -> None:
        pass


class AuthenticateLive(Authenticate):
    """With a store (identity changes to notice) and/or OIDC issuers (tokens to verify)."""

    __slots__ = ()

    async def on_request(self, ctx: RequestContext) -> None:  # type: ignore[override]
        await self.fresh()
        # Known as soon as verified: a delegation refused below is still recorded against it.
        ctx.principal = p = await self.principal_for(credential(ctx.headers))
        ctx.principal = await self.delegate(p, ctx.headers)

    async def resolve(self, headers: dict[str, str]) -> Principal:
        await self.fresh()
        return await self.delegate(await self.principal_for(credential(headers)), headers)

    async def fresh(self) -> None:
        d = self.directory
        if d.stale:  # set by the store watcher: a change landed since the snapshot
            await d.load()

    async def delegate(self, p: Principal, headers: dict[str, str]) -> Principal:
        """``p`` acting for the user whose credential is in the on-behalf-of header, if any."""
        obo = headers.get(self.obo_header)
        if p.kind == "agent":
            if obo is None:
                if p.on_behalf_of == "required":
                    raise OnBehalfOfDenied(
                        f"{p.label} must act on behalf of a user: send the user's credential in {self.obo_header}",
                        code="on_behalf_of_required",
                    )
                return p
            if p.on_behalf_of == "forbidden":
                raise OnBehalfOfDenied(f"{p.label} is registered to act only as itself, not on behalf of a user")
            user = await self.principal_for(obo.strip(), what="on-behalf-of credential")
            if user.kind != "user":
                raise OnBehalfOfDenied(f"the on-behalf-of credential belongs to a {user.kind}, not a user")
            if user.org_id != p.org_id:
                raise OnBehalfOfDenied(f"{p.label} cannot act for a user of another organisation")
            return p.acting(user)
        if obo is not None:
            raise OnBehalfOfDenied(f"{p.label} is not an agent: only agents act on behalf of a user")
        return p

    async def principal_for(self, secret: str, what: str = "") -> Principal:
        try:
            if self.oidc is not None and self.oidc.looks_like_jwt(secret):
                ident = await self.oidc.verify(secret)
                return self.directory.principal_for_token(ident)
            return self.directory.verify_key(secret)
        except AuthenticationFailed as e:
            if what:
                raise AuthenticationFailed(f"{what}: {e.message}") from None
            raise
