"""Gateway API keys: generation, the stored hash, and the visible prefix.

A key is ``sk-sg-<8-char id>_<43-char secret>``: 256 random bits from the OS CSPRNG
(``secrets``). The store keeps only the SHA-256 digest of the whole key and its visible
prefix (``sk-sg-<id>``), which identifies the key in listings and the audit record.
A fast hash is right here: the secret is random and long, so there is nothing for a
slow password hash to protect against, and verification costs one SHA-256.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string

KEY_PREFIX = "sk-sg-"
_ID_ALPHABET = string.ascii_lowercase + string.digits


def generate() -> tuple[str, str, str]:
    """(secret key shown once, visible prefix, hex digest to store)."""
    ident = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
    secret = f"{KEY_PREFIX}{ident}_{secrets.token_urlsafe(32)}"
    return secret, visible_prefix(secret), digest_hex(secret)


def visible_prefix(secret: str) -> str:
    return secret.partition("_")[0][: len(KEY_PREFIX) + 8]


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def digest_hex(secret: str) -> str:
    return digest(secret).hex()


_SECRET = re.compile(r"sk-sg-[a-z0-9]{8}_[A-Za-z0-9_-]+")


def scrub(text: str) -> str:
    """``text`` with any gateway key secret in it cut to its visible prefix."""
    return _SECRET.sub(lambda m: m.group(0)[: len(KEY_PREFIX) + 8] + "_[redacted]", text)
