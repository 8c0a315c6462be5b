"""A local OpenID Connect issuer for tests: a real HTTP server on 127.0.0.1 serving a
discovery document and a JWKS of locally generated keys. Keys can be published,
rotated and withdrawn; fetches are counted; the server can be made to fail."""

from __future__ import annotations

import base64
import functools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@functools.cache
def rsa_key(name: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """Generated once per test session per name (RSA generation takes tens of ms)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def ec_key(name: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: PrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", **extra}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LocalIssuer:
    AUDIENCE = "switchgear"

    def __init__(self) -> None:
        self._keys: dict[str, tuple[PrivateKey, str]] = {}  # kid -> (private key, alg)
        self._published: dict[str, dict[str, Any]] = {}  # kid -> public JWK
        self._lock = threading.Lock()
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        self.down = False  # answer every request with 503
        self.jwks_delay_s = 0.0  # hold JWKS responses this long (to overlap requests)
        self.discovery_issuer: str | None = None  # what discovery claims; default: the truth
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.jwks_url = f"{self.issuer}/jwks.json"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- keys ----------------------------------------------------------------------

    def publish(self, kid: str, key: PrivateKey, alg: str, jwk_extra: dict[str, Any] | None = None) -> None:
        """Publish ``key`` under ``kid``; tokens for ``kid`` are then signed with ``alg``."""
        with self._lock:
            self._keys[kid] = (key, alg)
            self._published[kid] = public_jwk(key, kid, **(jwk_extra or {}))

    def publish_raw(self, jwk: dict[str, Any]) -> None:
        with self._lock:
            self._published[jwk.get("kid", f"raw-{len(self._published)}")] = jwk

    def withdraw(self, kid: str) -> None:
        with self._lock:
            del self._published[kid]

    # ---- tokens --------------------------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.AUDIENCE,
            "sub": "user-1",
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "iat": now,
            "exp": now + 300,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}  # None: drop the claim

    def token(
        self,
        kid: str,
        *,
        key: PrivateKey | None = None,
        alg: str | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A token signed by the key published under ``kid`` (or by ``key``, a forger's)."""
        own_key, own_alg = self._keys.get(kid, (None, "RS256"))
        signer = key or own_key
        assert signer is not None, f"no private key for kid {kid!r}"
        return jwt.encode(
            self.claims(**claims), signer, algorithm=alg or own_alg, headers={"kid": kid, **(headers or {})}
        )

    # ---- HTTP ----------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with issuer._lock:  # count every attempt, failed ones too
                    if self.path == "/.well-known/openid-configuration":
                        issuer.discovery_fetches += 1
                    elif self.path == "/jwks.json":
                        issuer.jwks_fetches += 1
                    keys = list(issuer._published.values())
                if issuer.down:
                    self._send(503, {"error": "unavailable"})
                elif self.path == "/.well-known/openid-configuration":
                    self._send(200, {
                        "issuer": issuer.discovery_issuer or issuer.issuer,
                        "jwks_uri": issuer.jwks_url,
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                    })
                elif self.path == "/jwks.json":
                    if issuer.jwks_delay_s:
                        time.sleep(issuer.jwks_delay_s)
                    self._send(200, {"keys": keys})
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
