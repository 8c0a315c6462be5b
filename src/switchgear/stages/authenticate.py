"""Who is calling: a client key from ``Authorization: Bearer`` or ``x-api-key``.

Both headers are accepted on every endpoint (the Anthropic SDK can also send a
bearer token). Keys in the query string are never read: URLs end up in logs.
"""

from __future__ import annotations

from switchgear.core.context import RequestContext
from switchgear.core.errors import AuthenticationFailed
from switchgear.identity.config_keys import ConfigKeyStore


class Authenticate:
    name = "authenticate"
    __slots__ = ("keys",)

    def __init__(self, keys: ConfigKeyStore) -> None:
        self.keys = keys

    def on_request(self, ctx: RequestContext) -> None:
        ctx.principal = self.verify(ctx.headers)

    def verify(self, headers: dict[str, str]):  # -> Principal
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
        principal = self.keys.verify(secret)
        if principal is None:
            raise AuthenticationFailed("invalid API key")
        return principal

    def on_complete(self, ctx: RequestContext) -> None:
        pass
