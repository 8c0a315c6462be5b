"""OIDC bearer JWTs, verified against a real local issuer (HTTP JWKS, locally generated keys)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from switchgear.config.load import ConfigError
from switchgear.config.schema import OidcIssuerConfig
from switchgear.core.errors import AuthenticationFailed
from switchgear.identity.oidc import OidcIdentity, OidcVerifier
from tests.identity.oidc_issuer import LocalIssuer, b64url, ec_key, rsa_key


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    local = LocalIssuer()
    local.publish("rsa-1", rsa_key("rsa-1"), "RS256")
    local.publish("ec-1", ec_key("ec-1"), "ES256")
    yield local
    local.close()


def config(local: LocalIssuer, **overrides: Any) -> OidcIssuerConfig:
    fields: dict[str, Any] = {
        "issuer": local.issuer,
        "audience": LocalIssuer.AUDIENCE,
        "jwks_url": local.jwks_url,
        "algorithms": ("RS256", "ES256"),
        "leeway_s": 0.0,
        "org": "acme",
        "team_map": {"eng-group": "engineering", "ml-group": "research"},
        "role_map": {"gateway-admins": "org_admin", "auditors": "auditor"},
    }
    fields.update(overrides)
    return OidcIssuerConfig(**fields)


class Verifiers:
    """Builds verifiers and closes them (their background fetches) after the test."""

    def __init__(self) -> None:
        self.built: list[OidcVerifier] = []

    def __call__(self, *configs: OidcIssuerConfig, **kwargs: Any) -> OidcVerifier:
        verifier = OidcVerifier(configs, **kwargs)
        self.built.append(verifier)
        return verifier


@pytest.fixture
async def make() -> AsyncIterator[Verifiers]:
    verifiers = Verifiers()
    yield verifiers
    for verifier in verifiers.built:
        await verifier.aclose()


async def rejected(verifier: OidcVerifier, token: str, message: str) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as info:
        await verifier.verify(token)
    error = info.value
    assert message in error.message, error.message
    assert error.status == 401
    # Never echo the token, nor any of its parts.
    for part in (token, *[p for p in token.split(".") if len(p) > 8]):
        assert part not in str(error)
    return error


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), b64url(signature)]
    )


# ---- valid tokens ----------------------------------------------------------------------


async def test_valid_rs256_token(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    exp = int(time.time()) + 120
    identity = await verifier.verify(issuer.token("rsa-1", exp=exp))
    host = issuer.issuer.removeprefix("http://")
    assert identity == OidcIdentity(
        issuer=issuer.issuer,
        subject="user-1",
        email="ada@example.com",
        name="Ada Lovelace",
        teams=(),
        roles=(),
        org="acme",
        expires_at=float(exp),
        credential_id=f"jwt:{host}:user-1",
    )


async def test_valid_es256_token(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    identity = await verifier.verify(issuer.token("ec-1", sub="svc-7", email=None, name=None))
    assert (identity.subject, identity.email, identity.name) == ("svc-7", None, None)


async def test_audience_list_in_token_and_config(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, audience=("other-api", "switchgear")))
    await verifier.verify(issuer.token("rsa-1", aud=["https://unrelated", "switchgear"]))
    await verifier.verify(issuer.token("rsa-1", aud="other-api"))
    await rejected(verifier, issuer.token("rsa-1", aud=["a", "b"]), "audience mismatch")


async def test_teams_and_roles_from_list_claims(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    identity = await verifier.verify(issuer.token(
        "rsa-1",
        groups=["ml-group", "unmapped", "eng-group", "ml-group", 7],
        roles=["auditors", "nobody", "gateway-admins"],
    ))
    assert identity.teams == ("research", "engineering")  # claim order, unmapped and dupes dropped
    assert identity.roles == ("auditor", "org_admin")


async def test_teams_and_roles_from_string_claims(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, teams_claim="grp", roles_claim="scope"))
    identity = await verifier.verify(
        issuer.token("rsa-1", grp="eng-group, other,ml-group", scope="openid auditors profile")
    )
    assert identity.teams == ("engineering", "research")
    assert identity.roles == ("auditor",)


async def test_nested_and_namespaced_claims(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(
        issuer, teams_claim="https://acme.example/groups", roles_claim="realm_access.roles",
    ))
    claims: dict[str, Any] = {
        "https://acme.example/groups": ["eng-group"],
        "realm_access": {"roles": ["gateway-admins", "offline_access"]},
    }
    identity = await verifier.verify(issuer.token("rsa-1", **claims))
    assert (identity.teams, identity.roles) == (("engineering",), ("org_admin",))


async def test_no_claims_mapped_when_claim_disabled_or_absent(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, teams_claim=None))
    identity = await verifier.verify(issuer.token("rsa-1", groups=["eng-group"], roles={"x": 1}))
    assert (identity.teams, identity.roles) == ((), ())


async def test_custom_subject_claim(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, subject_claim="oid"))
    identity = await verifier.verify(issuer.token("rsa-1", oid="0f3c"))
    assert identity.subject == "0f3c" and identity.credential_id.endswith(":0f3c")
    await rejected(verifier, issuer.token("rsa-1"), "token has no subject ('oid' claim)")


# ---- time claims -----------------------------------------------------------------------


async def test_expired_token(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    await rejected(verifier, issuer.token("rsa-1", exp=int(time.time()) - 1), "token expired")


async def test_expired_token_within_leeway_is_accepted(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, leeway_s=60.0))
    await verifier.verify(issuer.token("rsa-1", exp=int(time.time()) - 10))


async def test_not_before_in_future(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    await rejected(verifier, issuer.token("rsa-1", nbf=int(time.time()) + 60), "token not yet valid")
    lenient = make(config(issuer, leeway_s=120.0))
    await lenient.verify(issuer.token("rsa-1", nbf=int(time.time()) + 60))


async def test_issued_in_future(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    await rejected(verifier, issuer.token("rsa-1", iat=int(time.time()) + 60), "issued in the future")


async def test_missing_exp(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    await rejected(verifier, issuer.token("rsa-1", exp=None), "token is missing the 'exp' claim")


@pytest.mark.parametrize("exp", ["tomorrow", True, float("nan"), float("inf")])
async def test_exp_that_is_not_a_time(issuer: LocalIssuer, make: Verifiers, exp: Any) -> None:
    verifier = make(config(issuer))
    await rejected(verifier, issuer.token("rsa-1", exp=exp), "invalid 'exp' claim")


# ---- issuer and audience -----------------------------------------------------------------


async def test_issuer_not_configured(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    await rejected(verifier, issuer.token("rsa-1", iss="https://evil.example"),
                   "token issuer 'https://evil.example' is not configured")
    # exact match: a trailing slash is another issuer
    await rejected(verifier, issuer.token("rsa-1", iss=issuer.issuer + "/"), "is not configured")
    await rejected(verifier, issuer.token("rsa-1", iss=None), "token has no issuer")
    assert issuer.jwks_fetches == 0  # nothing fetched for tokens we cannot place


async def test_token_claiming_another_configured_issuer(issuer: LocalIssuer, make: Verifiers) -> None:
    """A token signed by issuer A's key but claiming to come from issuer B is checked
    against B's keys: same kid, different key, so the signature fails."""
    other = LocalIssuer()
    try:
        other.publish("rsa-1", rsa_key("other-rsa"), "RS256")
        verifier = make(config(issuer), config(other))
        await rejected(verifier, issuer.token("rsa-1", iss=other.issuer), "signature verification failed")
        await verifier.verify(other.token("rsa-1"))
    finally:
        other.close()


async def test_wrong_audience(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    await rejected(verifier, issuer.token("rsa-1", aud="another-service"), "audience mismatch")
    await rejected(verifier, issuer.token("rsa-1", aud=None), "token is missing the 'aud' claim")


# ---- forged tokens -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none(issuer: LocalIssuer, make: Verifiers, alg: str) -> None:
    verifier = make(config(issuer))
    token = unsigned({"alg": alg, "typ": "JWT", "kid": "rsa-1"}, issuer.claims())
    await rejected(verifier, token, "algorithm 'none' is not allowed")


async def test_hs256_signed_with_rsa_public_key(issuer: LocalIssuer, make: Verifiers) -> None:
    """The classic key confusion: HMAC "signed" with the issuer's public key as the secret."""
    pem = rsa_key("rsa-1").public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    signing_input = ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(issuer.claims()).encode())])
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64url(signature)}"
    verifier = make(config(issuer))
    await rejected(verifier, token, "algorithm 'HS256' is not allowed")


async def test_header_alg_must_match_key_type(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    # ES256 header (validly signed by the EC key) naming the RSA key's kid
    token = issuer.token("rsa-1", key=ec_key("ec-1"), alg="ES256")
    await rejected(verifier, token, "algorithm 'ES256' does not match signing key 'rsa-1' (RSA)")
    token = issuer.token("ec-1", key=rsa_key("rsa-1"), alg="RS256")
    await rejected(verifier, token, "algorithm 'RS256' does not match signing key 'ec-1' (EC)")


async def test_jwk_alg_pins_the_algorithm(issuer: LocalIssuer, make: Verifiers) -> None:
    issuer.publish("rsa-ps", rsa_key("rsa-ps"), "PS256", {"alg": "PS256"})
    verifier = make(config(issuer, algorithms=("RS256", "PS256")))
    await verifier.verify(issuer.token("rsa-ps"))
    await rejected(verifier, issuer.token("rsa-ps", alg="RS256"), "does not match signing key 'rsa-ps'")


async def test_algorithm_outside_issuer_allow_list(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, algorithms=("RS256",)))
    await rejected(verifier, issuer.token("ec-1"), "algorithm 'ES256' is not allowed for issuer")
    await rejected(verifier, issuer.token("rsa-1", alg="RS512"), "algorithm 'RS512' is not allowed")


async def test_forged_signature_with_known_kid(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    forged = issuer.token("rsa-1", key=rsa_key("attacker"), sub="admin")
    await rejected(verifier, forged, "signature verification failed")


async def test_embedded_attacker_key_is_ignored(issuer: LocalIssuer, make: Verifiers) -> None:
    """A "jwk" header carrying the attacker's own public key must not be trusted."""
    from tests.identity.oidc_issuer import public_jwk

    attacker = rsa_key("attacker")
    token = issuer.token("attacker", key=attacker, headers={"jwk": public_jwk(attacker, "attacker")})
    await rejected(make(config(issuer)), token, "unknown signing key id 'attacker'")


async def test_tampered_payload(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    header, _, signature = issuer.token("rsa-1", roles=["viewer"]).split(".")
    evil = b64url(json.dumps(issuer.claims(roles=["gateway-admins"])).encode())
    await rejected(verifier, f"{header}.{evil}.{signature}", "signature verification failed")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # signing it, in the test
async def test_short_rsa_key_is_refused(issuer: LocalIssuer, make: Verifiers) -> None:
    issuer.publish("rsa-weak", rsa_key("rsa-weak", bits=1024), "RS256")
    await rejected(make(config(issuer)), issuer.token("rsa-weak"), "signing key 'rsa-weak' is not acceptable")


@pytest.mark.parametrize("token", [
    "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",  # payload is not JSON
    "eyJub3QganNvbg.e30.c2ln",  # header is not JSON
    "eyJhbGciOiJSUzI1NiJ9.WzFd.c2ln",  # payload is a JSON array
])
async def test_malformed_tokens(make: Verifiers, issuer: LocalIssuer, token: str) -> None:
    await rejected(make(config(issuer)), token, "malformed token")


async def test_non_string_subject(issuer: LocalIssuer, make: Verifiers) -> None:
    await rejected(make(config(issuer)), issuer.token("rsa-1", sub=42), "invalid 'sub' claim")


async def test_signature_segment_that_is_not_base64url(issuer: LocalIssuer, make: Verifiers) -> None:
    token = issuer.token("rsa-1")
    await rejected(make(config(issuer)), token[:-4] + "!!!!", "invalid token")


async def test_missing_kid(issuer: LocalIssuer, make: Verifiers) -> None:
    import jwt

    token = jwt.encode(issuer.claims(), rsa_key("rsa-1"), algorithm="RS256")
    await rejected(make(config(issuer)), token, "token header has no key id ('kid')")


def test_looks_like_jwt(issuer: LocalIssuer) -> None:
    token = issuer.token("rsa-1")
    assert OidcVerifier.looks_like_jwt(token)
    assert OidcVerifier.looks_like_jwt(unsigned({"alg": "none"}, {}))  # shape only; verify() refuses it
    for other in ["sk-abc.def.ghi", "eyJabc.def", "eyJ.a.b.c", "eyJhb+/.e30.sig", "", token + " "]:
        assert not OidcVerifier.looks_like_jwt(other)


# ---- build-time checks ----------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"algorithms": ("RS256", "none")}, "'none' is never allowed"),
    ({"algorithms": ("HS256",)}, "'HS256' is refused: HMAC needs a shared secret"),
    ({"algorithms": ("RS256", "hs512")}, "'hs512' is refused"),
    ({"algorithms": ("XS999",)}, "unknown algorithm 'XS999'"),
    ({"algorithms": ()}, "must list at least one algorithm"),
    ({"audience": ()}, "must name at least one non-empty audience"),
    ({"issuer": "http://idp.example.com"}, "must be an https:// URL"),
    ({"jwks_url": "http://idp.example.com/keys"}, "jwks_url: 'http://idp.example.com/keys' must be an https://"),
    ({"leeway_s": -1.0}, "leeway_s: must not be negative"),
])
def test_unsafe_config_is_refused_at_build(issuer: LocalIssuer, overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        OidcVerifier((config(issuer, **overrides),))
    assert any(problem in p for p in info.value.problems), info.value.problems
    assert all(p.startswith("auth.oidc[0].") for p in info.value.problems)


def test_duplicate_issuer_is_refused(issuer: LocalIssuer) -> None:
    with pytest.raises(ConfigError, match=r"auth.oidc\[1\].issuer: .* is configured twice"):
        OidcVerifier((config(issuer), config(issuer)))


def test_https_issuer_is_accepted() -> None:
    OidcVerifier((OidcIssuerConfig(issuer="https://login.example.com/realms/acme", audience="sg"),))


# ---- the key set: fetching, rotation, flood, outage ---------------------------------------


async def test_discovery_via_well_known(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, jwks_url=None))
    await verifier.verify(issuer.token("rsa-1"))
    await verifier.verify(issuer.token("ec-1"))
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)


async def test_discovery_naming_another_issuer_is_refused(issuer: LocalIssuer, make: Verifiers) -> None:
    issuer.discovery_issuer = "https://impostor.example"
    verifier = make(config(issuer, jwks_url=None))
    await rejected(verifier, issuer.token("rsa-1"), "its key set could not be fetched")
    assert issuer.jwks_fetches == 0


async def test_key_rotation_refetches_once(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, min_refresh_interval_s=0.0))
    token = issuer.token("rsa-1")
    cached = await verifier.verify(token)
    assert issuer.jwks_fetches == 1
    issuer.publish("rsa-2", rsa_key("rsa-2"), "RS256")
    await verifier.verify(issuer.token("rsa-2"))
    assert issuer.jwks_fetches == 2
    assert await verifier.verify(token) is cached  # rsa-1 unchanged: its verifications stay cached
    await verifier.verify(issuer.token("rsa-2", sub="user-2"))
    await verifier.verify(issuer.token("rsa-1", sub="user-3"))
    assert issuer.jwks_fetches == 2


async def test_unknown_kid_flood_fetches_at_most_once_per_interval(issuer: LocalIssuer, make: Verifiers) -> None:
    issuer.jwks_delay_s = 0.05  # the first fetch is still running while the rest arrive
    verifier = make(config(issuer, min_refresh_interval_s=0.2))
    flood = [issuer.token(uuid.uuid4().hex, key=rsa_key("attacker")) for _ in range(50)]
    results = await asyncio.gather(*(verifier.verify(t) for t in flood), return_exceptions=True)
    assert all(isinstance(r, AuthenticationFailed) and "unknown signing key id" in r.message for r in results)
    assert issuer.jwks_fetches == 1  # all 50 shared one fetch
    await asyncio.gather(*(verifier.verify(t) for t in flood), return_exceptions=True)
    assert issuer.jwks_fetches == 1  # within the interval: no fetch at all
    await verifier.verify(issuer.token("rsa-1"))  # known kids are unaffected
    await asyncio.sleep(0.2)
    await asyncio.gather(*(verifier.verify(t) for t in flood), return_exceptions=True)
    assert issuer.jwks_fetches == 2  # the interval passed: exactly one more


async def test_cancelled_waiter_does_not_cancel_the_shared_fetch(issuer: LocalIssuer, make: Verifiers) -> None:
    issuer.jwks_delay_s = 0.05
    verifier = make(config(issuer))
    first = asyncio.ensure_future(verifier.verify(issuer.token("rsa-1")))
    second = asyncio.ensure_future(verifier.verify(issuer.token("ec-1")))
    await asyncio.sleep(0.01)
    first.cancel()
    assert (await second).subject == "user-1"
    assert issuer.jwks_fetches == 1


async def test_endpoint_down_keeps_cached_keys(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, min_refresh_interval_s=0.0, jwks_cache_s=0.01))
    await verifier.verify(issuer.token("rsa-1"))
    issuer.down = True
    await asyncio.sleep(0.02)  # the key set is now stale: the next use refreshes it in the background
    await verifier.verify(issuer.token("rsa-1", sub="user-2"))
    await until(lambda: issuer.jwks_fetches >= 2)
    await verifier.verify(issuer.token("rsa-1", sub="user-3"))  # refresh failed; cached key serves
    await verifier.verify(issuer.token("ec-1"))
    await rejected(verifier, issuer.token("rsa-9", key=rsa_key("rsa-1")),
                   f"unknown signing key id 'rsa-9' for issuer '{issuer.issuer}'; its key set could not be fetched")


async def test_endpoint_down_from_the_start(issuer: LocalIssuer, make: Verifiers) -> None:
    issuer.down = True
    verifier = make(config(issuer))
    assert await verifier.warm() == (issuer.issuer,)
    issuer.down = False  # back up, but an unknown kid refetches at most every 10 s
    await rejected(verifier, issuer.token("rsa-1"), "its key set could not be fetched")


async def test_stale_key_set_refreshes_in_background(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, jwks_cache_s=0.05, min_refresh_interval_s=0.0))
    assert await verifier.warm() == ()
    assert issuer.jwks_fetches == 1
    issuer.publish("rsa-2", rsa_key("rsa-2"), "RS256")
    await asyncio.sleep(0.06)
    await verifier.verify(issuer.token("rsa-1"))  # served from cache, refresh started behind it
    await until(lambda: issuer.jwks_fetches == 2)
    await verifier.verify(issuer.token("rsa-2"))
    assert issuer.jwks_fetches == 2  # rsa-2 arrived with the background refresh


async def test_unusable_jwks_entries_are_skipped(issuer: LocalIssuer, make: Verifiers) -> None:
    issuer.publish_raw({"kty": "oct", "kid": "hmac", "k": b64url(b"secret" * 8)})
    issuer.publish_raw({"kty": "RSA", "kid": "broken", "n": "AQAB", "e": "!!"})
    issuer.publish("enc", rsa_key("rsa-2"), "RS256", {"use": "enc"})
    verifier = make(config(issuer))
    await verifier.verify(issuer.token("rsa-1"))
    await rejected(verifier, issuer.token("enc"), "unknown signing key id 'enc'")


# ---- the verified-token cache ----------------------------------------------------------


async def test_cached_verification_returns_same_identity(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer))
    token = issuer.token("rsa-1", groups=["eng-group"])
    first = await verifier.verify(token)
    issuer.down = True  # a cache hit needs no key set at all
    assert await verifier.verify(token) is first


async def test_cached_token_is_rejected_after_exp(issuer: LocalIssuer, make: Verifiers) -> None:
    now = [time.time()]
    verifier = make(config(issuer), clock=lambda: now[0])
    token = issuer.token("rsa-1", exp=int(now[0]) + 60)
    identity = await verifier.verify(token)
    now[0] = identity.expires_at - 0.001
    assert await verifier.verify(token) is identity
    now[0] = identity.expires_at
    await rejected(verifier, token, "token expired")


async def test_cache_ttl_bounds_reuse(issuer: LocalIssuer, make: Verifiers) -> None:
    now = [time.time()]
    verifier = make(config(issuer), clock=lambda: now[0], cache_ttl_s=10.0)
    token = issuer.token("rsa-1")
    first = await verifier.verify(token)
    now[0] += 11  # past the TTL, not past exp: verified afresh, a new identity object
    second = await verifier.verify(token)
    assert second == first and second is not first


async def test_withdrawn_key_ends_cached_verifications(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, min_refresh_interval_s=0.0))
    token = issuer.token("rsa-1")
    await verifier.verify(token)
    issuer.withdraw("rsa-1")
    issuer.publish("rsa-2", rsa_key("rsa-2"), "RS256")
    await verifier.verify(issuer.token("rsa-2"))  # unknown kid: the key set is refetched
    await rejected(verifier, token, "unknown signing key id 'rsa-1'")


async def test_cache_is_bounded(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer), cache_max=3)
    tokens = [issuer.token("rsa-1", sub=f"user-{i}") for i in range(5)]
    identities = [await verifier.verify(t) for t in tokens]
    assert await verifier.verify(tokens[4]) is identities[4]  # recent: cached
    assert await verifier.verify(tokens[0]) is not identities[0]  # evicted: verified again


async def test_failures_are_not_cached(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, min_refresh_interval_s=0.0))
    token = issuer.token("rsa-2", key=rsa_key("rsa-2"))
    await rejected(verifier, token, "unknown signing key id 'rsa-2'")
    issuer.publish("rsa-2", rsa_key("rsa-2"), "RS256")
    assert (await verifier.verify(token)).subject == "user-1"


async def test_key_set_without_usable_keys_keeps_previous_keys(issuer: LocalIssuer, make: Verifiers) -> None:
    verifier = make(config(issuer, min_refresh_interval_s=0.0))
    await verifier.verify(issuer.token("rsa-1"))
    issuer.withdraw("rsa-1")
    issuer.withdraw("ec-1")
    issuer.publish_raw({"kty": "oct", "kid": "hmac", "k": b64url(b"secret" * 8)})
    await rejected(verifier, issuer.token("rsa-2", key=rsa_key("rsa-2")), "could not be fetched")
    assert issuer.jwks_fetches == 2
    await verifier.verify(issuer.token("rsa-1", sub="user-2"))
