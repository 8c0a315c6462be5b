"""Ed25519 signatures on audit checkpoints.

A checkpoint says "the chain's entry at seq N has hash H" (chain.checkpoint_statement),
signed by the gateway's key. Whoever can rewrite the database can recompute every hash,
but cannot sign without the private key: `switchgear audit verify --public-key FILE`
checks the checkpoints with the public key alone, so the verifier needs no secret.

The private key lives in a PEM file (PKCS#8, unencrypted), created with mode 0600 when
missing. Each gateway host may have its own key: a checkpoint records its ``key_id``
(the first 16 hex digits of SHA-256 over the raw 32-byte public key), and verify takes
a list of public keys. Nothing here logs or formats key material.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from switchgear.audit.chain import checkpoint_statement

log = logging.getLogger("switchgear.audit")


from switchgear.audit.errors import SigningKeyError  # noqa: E402 - re-exported here


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class Signer:
    """The gateway's checkpoint signing key."""

    __slots__ = ("_private", "key_id", "public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id_of(self.public_key)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> Signer:
        """Load the key at ``path``, creating it (mode 0600, parent dirs too) if missing."""
        p = Path(path)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            return cls._create(p)
        except OSError as e:
            raise SigningKeyError(f"cannot read audit signing key {p}: {e.strerror}") from None
        if os.name == "posix" and p.stat().st_mode & 0o077:
            log.warning("audit signing key %s is readable by other users; chmod 600 it", p)
        return cls(_private_from_pem(data, p))

    @classmethod
    def _create(cls, p: Path) -> Signer:
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption(),
        )
        # Write a private temporary file, then link it into place: the key appears whole
        # or not at all, and when several gateway processes start at once exactly one
        # key wins (the others find the file exists and load it).
        tmp = p.with_name(f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, p)
            except FileExistsError:
                return cls._load_existing(p)
        finally:
            tmp.unlink(missing_ok=True)
        log.info("created audit signing key %s (key id %s)", p, key_id_of(key.public_key()))
        return cls(key)

    @classmethod
    def _load_existing(cls, p: Path) -> Signer:
        return cls(_private_from_pem(p.read_bytes(), p))

    def sign(self, seq: int, hash_: str, ts: float) -> str:
        """The base64 signature of the checkpoint statement (seq, hash, ts)."""
        return base64.b64encode(self._private.sign(checkpoint_statement(seq, hash_, ts))).decode()

    def public_key_pem(self) -> bytes:
        return public_key_pem(self.public_key)

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"


def verify_signature(public_key: Ed25519PublicKey, seq: int, hash_: str, ts: float, signature: str) -> bool:
    try:
        sig = base64.b64decode(signature, validate=True)
        public_key.verify(sig, checkpoint_statement(seq, hash_, ts))
    except (InvalidSignature, ValueError):
        return False
    return True


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """A public key from a PEM file holding the public key or (for convenience) the private one."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise SigningKeyError(f"cannot read public key {p}: {e.strerror}") from None
    if b"PRIVATE KEY" in data:
        return _private_from_pem(data, p).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise SigningKeyError(f"{p} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{p} is not an Ed25519 public key")
    return key


def _private_from_pem(data: bytes, p: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        # The driver's message may quote the input: never pass it on.
        raise SigningKeyError(f"{p} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{p} is not an Ed25519 private key")
    return key
