"""The Redis store against a real redis-server: round trips, TTL, size refusal, and a
Redis that is down or returns garbage being a miss, never an error."""

from __future__ import annotations

import redis

from switchgear.cache.entry import Entry
from switchgear.cache.redis_store import RedisStore
from tests.cache.conftest import Clock, free_port

E = Entry(True, "text/event-stream", b'data: {"x":1}\n\ndata: [DONE]\n\n', 1234.5)


async def test_put_then_get_round_trips(redis_server: str, redis_prefix: str) -> None:
    s = RedisStore.from_url(redis_server, redis_prefix, 1 << 16)
    try:
        assert await s.get("k") is None
        s.put("k", E, 60)
        await s.flush()
        assert await s.get("k") == E
        assert (s.stats.hits, s.stats.misses, s.stats.stores, s.stats.errors) == (1, 1, 1, 0)
    finally:
        await s.close()


async def test_entries_are_written_with_px_ttl_under_the_prefix(
    redis_server: str, redis_prefix: str, redis_sync: redis.Redis
) -> None:
    s = RedisStore.from_url(redis_server, redis_prefix, 1 << 16)
    try:
        s.put("k", E, 2.5)
        await s.flush()
    finally:
        await s.close()
    ttl_ms = redis_sync.pttl(redis_prefix + "k")
    assert 0 < ttl_ms <= 2500
    assert redis_sync.exists("k") == 0  # nothing outside the prefix


async def test_entries_over_max_entry_bytes_are_never_sent(
    redis_server: str, redis_prefix: str, redis_sync: redis.Redis
) -> None:
    s = RedisStore.from_url(redis_server, redis_prefix, 10)
    try:
        s.put("k", E, 60)
        await s.flush()
        assert s.stats.refused_too_large == 1
        assert redis_sync.exists(redis_prefix + "k") == 0
    finally:
        await s.close()


async def test_a_value_that_does_not_decode_is_a_miss(
    redis_server: str, redis_prefix: str, redis_sync: redis.Redis
) -> None:
    redis_sync.set(redis_prefix + "k", b"not msgpack of an Entry")
    clock = Clock()
    s = RedisStore.from_url(redis_server, redis_prefix, 1 << 16, clock=clock)
    try:
        assert await s.get("k") is None
        assert s.stats.errors == 1
        # Bad data is not a broken Redis: the next request still asks it.
        s.put("k", E, 60)
        await s.flush()
        assert await s.get("k") == E
        assert s.stats.skipped == 0
    finally:
        await s.close()


async def test_redis_down_is_a_miss_then_a_cool_down() -> None:
    clock = Clock()
    s = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", "p:", 1 << 16, cooldown_s=5.0, clock=clock)
    try:
        assert await s.get("k") is None  # connection refused: a miss, not an exception
        assert s.stats.errors == 1 and s.stats.misses == 1
        # Within the cool-down Redis is not asked at all.
        assert await s.get("k") is None
        s.put("k", E, 60)
        await s.flush()
        assert s.stats.errors == 1 and s.stats.skipped == 2
        # After it, Redis is tried again (still down: another counted error).
        clock.now += 5.0
        s.put("k", E, 60)
        await s.flush()
        assert s.stats.errors == 2 and s.stats.stores == 0
    finally:
        await s.close()


async def test_writes_beyond_max_pending_are_dropped(redis_server: str, redis_prefix: str) -> None:
    s = RedisStore.from_url(redis_server, redis_prefix, 1 << 16, max_pending_writes=2)
    try:
        for i in range(5):  # no await between puts: the first two are still in flight
            s.put(f"k{i}", E, 60)
        assert s.stats.dropped_writes == 3
        await s.flush()
        assert s.stats.stores == 2
        assert await s.get("k0") == E and await s.get("k4") is None
    finally:
        await s.close()
