"""JWT bearer tokens from configured OpenID Connect issuers.

The unverified ``iss`` claim only picks which configured issuer to verify against;
everything after that is checked: the signature (PyJWT, with the key from that
issuer's JWKS named by the token's ``kid``), the algorithm (in the issuer's allow-list
and of the key's own type, so an HS256 token "signed" with an RSA public key or an
ES256 header on an RSA key fails), ``iss`` exactly, ``aud`` against the configured
audiences, and ``exp`` (required), ``nbf`` and ``iat`` with the issuer's leeway.
``none`` and HS* are refused when the verifier is built: a JWKS is public, so no
symmetric key in it can be secret.

Successful verifications are cached by the token's SHA-256 until the token expires
(or the cache TTL passes, or its key leaves the issuer's key set), so a client reusing
its token costs one hash and one dict lookup. Failures are never cached.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import math
import re
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from switchgear.config.load import ConfigError
from switchgear.config.schema import OidcIssuerConfig
from switchgear.core.errors import AuthenticationFailed
from switchgear.identity.jwks import (
    KEY_FAMILY,
    JwksCache,
    SigningKey,
    shown,
    url_problem,
)

__all__ = ["OidcIdentity", "OidcVerifier"]

_MAX_TOKEN_LENGTH = 16 * 1024
_JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_LIST_SEPARATORS = re.compile(r"[\s,]+")

# Signature, iss and aud are PyJWT's to check. The time claims are checked here, with
# the verifier's clock, because PyJWT truncates them to whole seconds and reads the wall
# clock itself (the cache must agree with the check on when a token expires).
_DECODE_OPTIONS: Any = {
    "verify_signature": True,
    "verify_aud": True,
    "verify_iss": True,
    "verify_sub": True,
    "verify_jti": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "require": ["exp", "iss", "aud"],
    "enforce_minimum_key_length": True,  # refuse RSA keys under 2048 bits
}


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    issuer: str
    subject: str
    email: str | None
    name: str | None
    teams: tuple[str, ...]  # team names mapped through team_map
    roles: tuple[str, ...]  # org roles mapped through role_map
    org: str | None  # from the issuer's config
    expires_at: float  # the token's exp (Unix seconds)
    credential_id: str  # "jwt:<issuer host/path>:<sub>"; never the token


@dataclass(frozen=True, slots=True, eq=False)
class _Issuer:
    config: OidcIssuerConfig
    audiences: list[str]
    algorithms: frozenset[str]
    algorithm_list: list[str]
    label: str  # the issuer's host and path, for credential ids
    jwks: JwksCache


@dataclass(frozen=True, slots=True, eq=False)
class _Verified:
    identity: OidcIdentity
    until: float  # clock time after which the entry is stale
    jwks: JwksCache
    key: SigningKey  # valid only while the issuer still publishes this very key


class OidcVerifier:
    """Verifies bearer JWTs from the configured issuers. Build once per config snapshot;
    use from one event loop."""

    __slots__ = ("_cache", "_cache_max", "_cache_ttl_s", "_clock", "_issuers")

    def __init__(
        self,
        issuers: tuple[OidcIssuerConfig, ...],
        *,
        cache_ttl_s: float = 300.0,
        cache_max: int = 10_000,
        fetch_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        problems = _problems(issuers)
        if problems:
            raise ConfigError(problems)
        self._issuers: dict[str, _Issuer] = {}
        for c in issuers:
            audiences = [c.audience] if isinstance(c.audience, str) else list(c.audience)
            parts = urllib.parse.urlsplit(c.issuer)
            self._issuers[c.issuer] = _Issuer(
                config=c,
                audiences=audiences,
                algorithms=frozenset(c.algorithms),
                algorithm_list=list(c.algorithms),
                label=parts.netloc + parts.path.rstrip("/"),
                jwks=JwksCache(
                    c.issuer,
                    c.jwks_url,
                    cache_s=c.jwks_cache_s,
                    min_refresh_s=c.min_refresh_interval_s,
                    timeout_s=fetch_timeout_s,
                ),
            )
        self._cache: OrderedDict[bytes, _Verified] = OrderedDict()
        self._cache_ttl_s = cache_ttl_s
        self._cache_max = cache_max
        self._clock = clock

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        """Cheap shape test (three base64url segments, a JSON header) to tell a JWT from
        an API key before paying for verification."""
        return len(token) <= _MAX_TOKEN_LENGTH and _JWT_SHAPE.fullmatch(token) is not None

    async def verify(self, token: str) -> OidcIdentity:
        """The identity a valid token carries; AuthenticationFailed otherwise."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        hit = self._cache.get(digest)
        if hit is not None:
            if self._clock() < hit.until and hit.jwks.current(hit.key.kid) is hit.key:
                self._cache.move_to_end(digest)
                return hit.identity
            del self._cache[digest]
        verified = await self._verify(token)
        self._cache[digest] = verified
        if len(self._cache) > self._cache_max:
            self._cache.popitem(last=False)
        return verified.identity

    async def warm(self) -> tuple[str, ...]:
        """Fetch every issuer's key set now (at start), so first requests need not wait.
        Returns the issuers that still have no keys (to log; requests will retry)."""
        await asyncio.gather(*(issuer.jwks.refresh() for issuer in self._issuers.values()))
        return tuple(iss for iss, issuer in self._issuers.items() if not issuer.jwks.has_keys)

    async def aclose(self) -> None:
        for issuer in self._issuers.values():
            await issuer.jwks.aclose()

    async def _verify(self, token: str) -> _Verified:
        if len(token) > _MAX_TOKEN_LENGTH:
            raise AuthenticationFailed("token too large")
        header, claims = _unverified(token)

        alg = header.get("alg")
        if not isinstance(alg, str) or not alg:
            raise AuthenticationFailed("token header has no algorithm")
        if alg.lower() == "none":
            raise AuthenticationFailed("algorithm 'none' is not allowed")
        iss = claims.get("iss")
        if not isinstance(iss, str):
            raise AuthenticationFailed("token has no issuer")
        issuer = self._issuers.get(iss)
        if issuer is None:
            raise AuthenticationFailed(f"token issuer {shown(iss)} is not configured")
        if alg not in issuer.algorithms:
            raise AuthenticationFailed(f"algorithm {shown(alg)} is not allowed for issuer {shown(iss)}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationFailed("token header has no key id ('kid')")

        key = await issuer.jwks.get(kid)
        if not key.fits(alg):
            raise AuthenticationFailed(
                f"algorithm {shown(alg)} does not match signing key {shown(kid)} ({key.kty})"
            )
        config = issuer.config
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=issuer.algorithm_list,
                audience=issuer.audiences,
                issuer=config.issuer,
                options=_DECODE_OPTIONS,
            )
        except jwt.InvalidSignatureError:
            raise AuthenticationFailed("signature verification failed") from None
        except jwt.MissingRequiredClaimError as e:
            raise AuthenticationFailed(f"token is missing the '{e.claim}' claim") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationFailed("audience mismatch") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationFailed("issuer mismatch") from None
        except jwt.InvalidKeyError:
            raise AuthenticationFailed(f"signing key {shown(kid)} is not acceptable") from None
        except jwt.exceptions.InvalidSubjectError:
            raise AuthenticationFailed("invalid 'sub' claim") from None
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
            raise AuthenticationFailed("invalid token") from None

        now = self._clock()
        exp = _check_times(claims, now, config.leeway_s)
        subject = _claim(claims, config.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise AuthenticationFailed(f"token has no subject ('{config.subject_claim}' claim)")
        email = _claim(claims, config.email_claim)
        name = _claim(claims, config.name_claim)
        identity = OidcIdentity(
            issuer=config.issuer,
            subject=subject,
            email=email if isinstance(email, str) else None,
            name=name if isinstance(name, str) else None,
            teams=_mapped(claims, config.teams_claim, config.team_map),
            roles=_mapped(claims, config.roles_claim, config.role_map),
            org=config.org,
            expires_at=exp,
            credential_id=f"jwt:{issuer.label}:{subject}",
        )
        return _Verified(identity, min(exp, now + self._cache_ttl_s), issuer.jwks, key)


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, unverified: only to choose the issuer and key. PyJWT's own
    parse (strict base64url, one more pass per character) is left to the verifying
    decode, which checks everything again; json.loads is the parser PyJWT uses."""
    segments = token.split(".")
    if len(segments) != 3:
        raise AuthenticationFailed("malformed token")
    try:
        header = json.loads(_b64url(segments[0]))
        claims = json.loads(_b64url(segments[1]))
    except (ValueError, TypeError, RecursionError, binascii.Error):
        raise AuthenticationFailed("malformed token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthenticationFailed("malformed token")
    return header, claims


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _is_time(value: Any) -> bool:
    # RFC 7519 NumericDate: a JSON number; NaN and infinities would defeat every comparison.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_times(claims: dict[str, Any], now: float, leeway: float) -> float:
    exp: Any = claims.get("exp")
    if not _is_time(exp):
        raise AuthenticationFailed("invalid 'exp' claim")
    if now >= exp + leeway:
        raise AuthenticationFailed("token expired")
    nbf = claims.get("nbf")
    if nbf is not None:
        if not _is_time(nbf):
            raise AuthenticationFailed("invalid 'nbf' claim")
        if nbf > now + leeway:
            raise AuthenticationFailed("token not yet valid")
    iat = claims.get("iat")
    if iat is not None:
        if not _is_time(iat):
            raise AuthenticationFailed("invalid 'iat' claim")
        if iat > now + leeway:
            raise AuthenticationFailed("token issued in the future")
    return float(exp)


def _claim(claims: dict[str, Any], name: str) -> Any:
    """A claim by name; a dotted name that is not itself a claim walks nested objects
    (Keycloak's "realm_access.roles"). Exact names come first: namespaced claims such as
    "https://example.com/groups" contain dots."""
    if name in claims or "." not in name:
        return claims.get(name)
    node: Any = claims
    for part in name.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _mapped(claims: dict[str, Any], name: str | None, mapping: dict[str, Any]) -> tuple[str, ...]:
    if name is None or not mapping:
        return ()
    value = _claim(claims, name)
    if isinstance(value, str):
        values: list[Any] = _LIST_SEPARATORS.split(value)
    elif isinstance(value, list):
        values = value
    else:
        return ()
    # dict.fromkeys: de-duplicate, keeping the claim's order
    return tuple(dict.fromkeys(mapping[v] for v in values if isinstance(v, str) and v in mapping))


def _problems(issuers: tuple[OidcIssuerConfig, ...]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for i, c in enumerate(issuers):
        at = f"auth.oidc[{i}]"
        if c.issuer in seen:
            problems.append(f"{at}.issuer: {c.issuer!r} is configured twice")
        seen.add(c.issuer)
        if (p := url_problem(c.issuer)) is not None:
            problems.append(f"{at}.issuer: {p}")
        if c.jwks_url is not None and (p := url_problem(c.jwks_url)) is not None:
            problems.append(f"{at}.jwks_url: {p}")
        audiences = (c.audience,) if isinstance(c.audience, str) else c.audience
        if not audiences or not all(audiences):
            problems.append(f"{at}.audience: must name at least one non-empty audience")
        if not c.algorithms:
            problems.append(f"{at}.algorithms: must list at least one algorithm")
        for alg in c.algorithms:
            if alg.lower() == "none":
                problems.append(f"{at}.algorithms: 'none' is never allowed (unsigned tokens)")
            elif alg.upper().startswith("HS"):
                problems.append(
                    f"{at}.algorithms: {alg!r} is refused: HMAC needs a shared secret, and an "
                    "OIDC issuer's keys are public (use RS*, PS*, ES* or EdDSA)"
                )
            elif alg not in KEY_FAMILY:
                problems.append(
                    f"{at}.algorithms: unknown algorithm {alg!r} (supported: {', '.join(KEY_FAMILY)})"
                )
        if c.leeway_s < 0:
            problems.append(f"{at}.leeway_s: must not be negative")
        if c.jwks_cache_s <= 0:
            problems.append(f"{at}.jwks_cache_s: must be positive")
        if c.min_refresh_interval_s < 0:
            problems.append(f"{at}.min_refresh_interval_s: must not be negative")
    return problems
