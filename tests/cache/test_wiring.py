"""Building the cache from config."""

from __future__ import annotations

from switchgear.cache.memory import MemoryStore
from switchgear.cache.redis_store import RedisStore
from switchgear.cache.wiring import build_store, ttls_from_config
from switchgear.config.schema import (
    CacheConfig,
    DeploymentConfig,
    LimitsConfig,
    ModelCacheConfig,
    ModelConfig,
)

DEP = (DeploymentConfig(provider="p", model="m"),)


def test_only_chat_models_that_opted_in_get_a_ttl() -> None:
    models = (
        ModelConfig(name="a", deployments=DEP, cache=ModelCacheConfig(ttl_s=30.0)),
        ModelConfig(name="b", deployments=DEP),
        ModelConfig(name="c", deployments=DEP, cache=ModelCacheConfig()),
        ModelConfig(name="e", deployments=DEP, kind="embeddings", cache=ModelCacheConfig()),
    )
    assert ttls_from_config(models) == {"a": 30.0, "c": 300.0}


def test_memory_store_takes_the_configured_bounds() -> None:
    s = build_store(CacheConfig(max_entries=7, max_bytes=9000, max_entry_bytes=500), LimitsConfig())
    assert isinstance(s, MemoryStore)
    assert (s.max_entries, s.max_bytes, s.max_entry_bytes) == (7, 9000, 500)


async def test_redis_store_uses_the_limits_connection_settings() -> None:
    limits = LimitsConfig(redis_url="redis://127.0.0.1:1/3", key_prefix="sg:", backend_timeout_ms=100.0)
    s = build_store(CacheConfig(backend="redis", max_entry_bytes=500), limits)
    try:
        assert isinstance(s, RedisStore)
        assert s.prefix == "sg:cache:" and s.max_entry_bytes == 500
        kw = s.client.connection_pool.connection_kwargs
        assert kw["socket_timeout"] == kw["socket_connect_timeout"] == 0.1
        assert kw["port"] == 1 and kw["db"] == 3
    finally:
        await s.close()
