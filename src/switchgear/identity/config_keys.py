"""Client keys listed in the config: the embedded, config-only identity mode.

Keys are held only as SHA-256 digests; a presented key is hashed and looked up, so
the comparison never touches the secret byte by byte (no timing signal about the
key) and the process holds no plaintext keys after start. A config key has exactly
the grants listed with it (deny by default) and, optionally, an admin role.
"""

from __future__ import annotations

import hashlib

from switchgear.config.schema import ClientKey
from switchgear.identity.principal import Principal
from switchgear.identity.rights import Rights, grant
from switchgear.routing.placement import Requirements


def key_id(secret: str) -> str:
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return f"{secret[:6]}…{digest[:8]}"


def principal_for(k: ClientKey) -> Principal:
    kid = key_id(k.key)
    req = k.requirements
    return Principal(
        id=f"config:{k.name}",
        kind="config",
        name=k.name,
        key_id=kid,
        role=k.role,
        rights=Rights(tuple(
            grant(f"config:{k.name}#{i + 1}", g.models, g.endpoints, g.max_tokens, g.data_classes, g.regions)
            for i, g in enumerate(k.grants)
        )),
        requirements=None if req is None else Requirements.of(
            regions=req.regions, data_class=req.data_classes, environments=req.environments
        ),
    )


def config_key_table(keys: tuple[ClientKey, ...]) -> dict[bytes, Principal]:
    """digest -> principal, for every key in the config."""
    return {hashlib.sha256(k.key.encode()).digest(): principal_for(k) for k in keys}
