"""Build the response cache from config: the store (one per process, kept across config
reloads that do not change it) and the per-model TTLs (one per chain snapshot)."""

from __future__ import annotations

from typing import Any

from switchgear.cache.entry import CacheStore
from switchgear.cache.memory import MemoryStore

REDIS_KEY_SPACE = "cache:"  # under limits.key_prefix: "switchgear:cache:<sha256>"


def ttls_from_config(models: Any) -> dict[str, float]:
    """Route name -> TTL seconds for the chat models with ``cache:`` set."""
    return {m.name: m.cache.ttl_s for m in models if m.cache is not None and m.kind == "chat"}


def build_store(cache: Any, limits: Any) -> CacheStore:
    """``cache``: config CacheConfig; ``limits``: config LimitsConfig (Redis URL, key
    prefix and timeout are shared with the limits backend)."""
    if cache.backend == "redis":
        from switchgear.cache.redis_store import RedisStore  # only when configured

        return RedisStore.from_url(
            limits.redis_url,
            limits.key_prefix + REDIS_KEY_SPACE,
            cache.max_entry_bytes,
            timeout_s=limits.backend_timeout_ms / 1000.0,
        )
    return MemoryStore(cache.max_entries, cache.max_bytes, cache.max_entry_bytes)
