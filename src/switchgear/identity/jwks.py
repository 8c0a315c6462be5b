"""An OIDC issuer's signing keys (its JWKS), fetched off the event loop and cached.

Verification never waits on the network for a key it already has. The key set is
refetched when a token names an unknown ``kid`` (the issuer rotated its keys), but at
most once per ``min_refresh_interval_s`` per issuer, and every verification waiting for
a refresh shares that one fetch: a flood of tokens with random kids costs one request
to the issuer, not one per token. Keys older than ``jwks_cache_s`` are refreshed in
the background while the cached ones keep verifying. When the issuer is unreachable,
the last good key set stays in use.
"""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import logging
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import msgspec
from jwt.algorithms import get_default_algorithms

from switchgear.core.errors import AuthenticationFailed

_log = logging.getLogger("switchgear.identity.oidc")

_MAX_DOCUMENT_BYTES = 1 << 20  # a JWKS or discovery document larger than this is refused
_MAX_KID_LENGTH = 256

# The key family (kty, and the curves allowed) each accepted algorithm needs. Symmetric
# ("oct") keys are absent on purpose: a JWKS is public, so an HMAC key in it is no secret.
KEY_FAMILY: dict[str, tuple[str, frozenset[str] | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "ES256K": ("EC", frozenset({"secp256k1"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}

_ALGORITHMS = get_default_algorithms()
# The PyJWT algorithm whose (static) from_jwk builds a public key of each type.
_KEY_LOADER = {"RSA": _ALGORITHMS["RS256"], "EC": _ALGORITHMS["ES256"], "OKP": _ALGORITHMS["EdDSA"]}


@dataclass(frozen=True, slots=True, eq=False)
class SigningKey:
    kid: str
    kty: str
    crv: str | None
    alg: str | None  # the JWK's own "alg": when present, tokens must use exactly it
    key: Any  # a cryptography public key object
    jwk: dict[str, Any]  # as published; an unchanged key keeps its SigningKey across refreshes

    def fits(self, alg: str) -> bool:
        """Whether a token header's ``alg`` may be verified with this key (no key confusion)."""
        family = KEY_FAMILY.get(alg)
        if family is None or family[0] != self.kty:
            return False
        if family[1] is not None and self.crv not in family[1]:
            return False
        return self.alg is None or self.alg == alg


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """Keys fetched over plain HTTP could be swapped in transit, so HTTPS is required
    except on loopback (a local issuer, or tests)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and is_loopback(url):
        return None
    return f"{url!r} must be an https:// URL (plain http is allowed only on loopback)"


class _FetchFailed(Exception):
    pass


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        problem = url_problem(newurl)
        if problem is not None:
            raise _FetchFailed(f"refused redirect: {problem}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SafeRedirects)


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    """Blocking GET of a JSON object; run in a worker thread."""
    request = urllib.request.Request(
        url, headers={"accept": "application/json", "user-agent": "switchgear-oidc"}
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body = response.read(_MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as e:
        raise _FetchFailed(f"GET {url}: HTTP {e.code}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        raise _FetchFailed(f"GET {url}: {type(e).__name__}: {e}") from None
    if len(body) > _MAX_DOCUMENT_BYTES:
        raise _FetchFailed(f"GET {url}: document larger than {_MAX_DOCUMENT_BYTES} bytes")
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise _FetchFailed(f"GET {url}: not JSON") from None
    if not isinstance(document, dict):
        raise _FetchFailed(f"GET {url}: not a JSON object")
    return document


def parse_jwks(document: dict[str, Any], previous: dict[str, SigningKey]) -> dict[str, SigningKey]:
    """The usable signature keys of a JWKS document, by kid. Unusable entries (no kid,
    encryption keys, symmetric or private keys, unknown types) are skipped, not fatal:
    one odd key must not take down the issuer's other keys."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise _FetchFailed("JWKS has no 'keys' list")
    keys: dict[str, SigningKey] = {}
    for jwk in entries:
        if not isinstance(jwk, dict):
            continue
        kid, kty = jwk.get("kid"), jwk.get("kty")
        if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LENGTH:
            continue
        if jwk.get("use", "sig") != "sig" or kty not in _KEY_LOADER or "d" in jwk:
            continue
        key_ops = jwk.get("key_ops")
        if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
            continue
        old = previous.get(kid)
        if old is not None and old.jwk == jwk:
            keys[kid] = old
            continue
        alg, crv = jwk.get("alg"), jwk.get("crv")
        if alg is not None and alg not in KEY_FAMILY:
            continue  # pinned to an algorithm we never accept (e.g. RSA-OAEP, HS256)
        try:
            key = _KEY_LOADER[kty].from_jwk(jwk)
        except Exception as e:  # noqa: BLE001 - malformed key material of any kind
            _log.warning("skipping unusable JWK %r: %s", kid, e)
            continue
        keys[kid] = SigningKey(kid, kty, crv if isinstance(crv, str) else None, alg, key, jwk)
    if not keys:
        # Almost certainly a broken endpoint rather than a deliberate lock-out: treat it as
        # a failed fetch, so the keys we had keep working.
        raise _FetchFailed("JWKS has no usable signature keys")
    return keys


class JwksCache:
    """One issuer's key set. Use from a single event loop."""

    __slots__ = (
        "_cache_s",
        "_inflight",
        "_issuer",
        "_jwks_url",
        "_keys",
        "_last_attempt",
        "_last_success",
        "_min_refresh_s",
        "_timeout_s",
        "fetches",
    )

    def __init__(
        self,
        issuer: str,
        jwks_url: str | None,
        *,
        cache_s: float,
        min_refresh_s: float,
        timeout_s: float,
    ) -> None:
        self._issuer = issuer
        self._jwks_url = jwks_url  # None until discovered
        self._cache_s = cache_s
        self._min_refresh_s = min_refresh_s
        self._timeout_s = timeout_s
        self._keys: dict[str, SigningKey] = {}
        self._inflight: asyncio.Task[None] | None = None
        self._last_attempt = -math.inf  # monotonic
        self._last_success = -math.inf
        self.fetches = 0  # attempts, for metrics

    @property
    def has_keys(self) -> bool:
        return bool(self._keys)

    def current(self, kid: str) -> SigningKey | None:
        """The key now in the set under ``kid`` (no I/O)."""
        return self._keys.get(kid)

    async def get(self, kid: str) -> SigningKey:
        key = self._keys.get(kid)
        if key is not None:
            now = time.monotonic()
            if now - self._last_success >= self._cache_s and self._may_start(now):
                self._start_refresh()  # in the background: this key serves meanwhile
            return key
        task = self._inflight
        if task is None and self._may_start(time.monotonic()):
            task = self._start_refresh()
        if task is not None:
            # shield: a waiter that is cancelled must not cancel the fetch others share
            await asyncio.shield(task)
        key = self._keys.get(kid)
        if key is None:
            raise AuthenticationFailed(
                f"unknown signing key id {shown(kid)} for issuer {shown(self._issuer)}"
                + ("" if self._last_success >= self._last_attempt
                   else "; its key set could not be fetched")
            )
        return key

    async def refresh(self) -> None:
        """Fetch now (or join the fetch under way), regardless of the interval."""
        await asyncio.shield(self._inflight or self._start_refresh())

    async def aclose(self) -> None:
        task, self._inflight = self._inflight, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _may_start(self, now: float) -> bool:
        return self._inflight is None and now - self._last_attempt >= self._min_refresh_s

    def _start_refresh(self) -> asyncio.Task[None]:
        self._last_attempt = time.monotonic()
        task = asyncio.get_running_loop().create_task(self._refresh())
        self._inflight = task
        return task

    async def _refresh(self) -> None:
        """Never raises: a failed fetch keeps the previous keys."""
        self.fetches += 1
        try:
            keys = await asyncio.to_thread(self._fetch, self._keys)
        except _FetchFailed as e:
            _log.warning("JWKS refresh for issuer %r failed: %s", self._issuer, e)
        except Exception:  # noqa: BLE001 - a bug, not an outage: keep serving the previous keys
            _log.exception("JWKS refresh for issuer %r failed", self._issuer)
        else:
            self._keys = keys
            self._last_success = time.monotonic()
        finally:
            self._inflight = None

    def _fetch(self, previous: dict[str, SigningKey]) -> dict[str, SigningKey]:
        # Runs in a worker thread; only one fetch per issuer runs at a time.
        if self._jwks_url is None:
            self._jwks_url = self._discover()
        return parse_jwks(_get_json(self._jwks_url, self._timeout_s), previous)

    def _discover(self) -> str:
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = _get_json(url, self._timeout_s)
        # OIDC Discovery §4.3: the document must name the issuer it was fetched for.
        if document.get("issuer") != self._issuer:
            raise _FetchFailed(f"{url}: 'issuer' is {document.get('issuer')!r}, expected {self._issuer!r}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise _FetchFailed(f"{url}: no 'jwks_uri'")
        problem = url_problem(jwks_uri)
        if problem is not None:
            raise _FetchFailed(f"{url}: jwks_uri {problem}")
        return jwks_uri


def shown(value: object, limit: int = 80) -> str:
    """A client-supplied value made safe to put in an error message: quoted, truncated,
    non-printable characters replaced."""
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    text = "".join(c if c.isprintable() else "?" for c in value[:limit])
    return f"'{text}{'…' if len(value) > limit else ''}'"
