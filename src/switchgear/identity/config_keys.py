"""Client keys listed in the config: the embedded, config-only identity mode.

Keys are held only as SHA-256 digests; a presented key is hashed and looked up, so
the comparison never touches the secret byte by byte (no timing signal about the
key) and the process holds no plaintext keys after start. The identity issue
replaces this with the full model behind the same ``authenticate`` seam.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from switchgear.config.schema import ClientKey


@dataclass(frozen=True, slots=True)
class Principal:
    name: str  # the key's name from config, never the secret
    key_id: str  # a short, non-secret identifier: "sk-…" prefix + digest fragment


def key_id(secret: str) -> str:
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return f"{secret[:6]}…{digest[:8]}"


class ConfigKeyStore:
    __slots__ = ("_by_digest",)

    def __init__(self, keys: tuple[ClientKey, ...]) -> None:
        self._by_digest = {
            hashlib.sha256(k.key.encode()).digest(): Principal(k.name, key_id(k.key)) for k in keys
        }

    def __len__(self) -> int:
        return len(self._by_digest)

    def verify(self, secret: str) -> Principal | None:
        return self._by_digest.get(hashlib.sha256(secret.encode()).digest())
