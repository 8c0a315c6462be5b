"""Shared response cache in Redis (redis-py asyncio): ``GET`` and ``SET key value PX ttl``.

- Size: Redis enforces memory with its own ``maxmemory`` and eviction policy (use
  ``allkeys-lru`` or ``volatile-lru`` for a cache). ``max_entries``/``max_bytes`` from
  the config apply only to the in-memory store; this store still refuses any entry
  over ``max_entry_bytes`` (it is never sent).
- Failure: the cache is an optimisation, never a dependency. Any error or timeout on
  ``get`` is a miss; on a write it is dropped. Both are counted (``stats.errors``).
  After a connection-level error Redis is left alone for ``cooldown_s`` (gets are
  misses, writes are dropped, counted in ``stats.skipped``), so a dead Redis costs
  one connect timeout per cool-down, not one per request.
- Writes happen in background tasks (``put`` is called from the synchronous
  ``on_complete``); at most ``max_pending_writes`` run at once, more are dropped.
- Values are the Entry as MessagePack (msgspec): compact, and decoded in microseconds.
  A value that does not decode (another version, corruption) is a miss.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import msgspec
from redis.asyncio import BlockingConnectionPool, Redis
from redis.maint_notifications import MaintNotificationsConfig
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from switchgear.cache.entry import Entry, StoreStats

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Entry).decode


class RedisStore:
    __slots__ = (
        "_clock",
        "_down_until",
        "_pending",
        "client",
        "cooldown_s",
        "max_entry_bytes",
        "max_pending_writes",
        "prefix",
        "stats",
    )  # fmt: skip

    def __init__(
        self,
        client: Redis,
        prefix: str,
        max_entry_bytes: int,
        *,
        cooldown_s: float = 1.0,
        max_pending_writes: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.prefix = prefix  # e.g. "switchgear:cache:"; the key's version tag is inside the hash
        self.max_entry_bytes = max_entry_bytes
        self.cooldown_s = cooldown_s
        self.max_pending_writes = max_pending_writes
        self.stats = StoreStats()
        self._pending: set[asyncio.Task[None]] = set()
        self._down_until = 0.0
        self._clock = clock

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str,
        max_entry_bytes: int,
        *,
        timeout_s: float = 0.25,
        max_connections: int = 64,
        **kwargs: Any,
    ) -> RedisStore:
        """A store with its own pool. No retries (a retry would only make a miss slower),
        and every wait — connect, reply, a free pooled connection — bounded by ``timeout_s``."""
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            # redis-py 8's maintenance notifications (on by default, "auto") make a pooled
            # connection skip its liveness check: after a Redis restart every stale one
            # would fail once. Off: stale connections are noticed and replaced.
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
        )
        return cls(Redis.from_pool(pool), prefix, max_entry_bytes, **kwargs)

    def _down(self) -> bool:
        if self._down_until and self._clock() < self._down_until:
            self.stats.skipped += 1
            return True
        return False

    def _failed(self) -> None:
        self.stats.errors += 1
        self._down_until = self._clock() + self.cooldown_s

    async def get(self, key: str) -> Entry | None:
        if self._down():
            self.stats.misses += 1
            return None
        try:
            value = await self.client.get(self.prefix + key)
        except Exception:  # noqa: BLE001 - any backend failure is a miss (CancelledError is not an Exception)
            self._failed()
            self.stats.misses += 1
            return None
        if value is None:
            self.stats.misses += 1
            return None
        try:
            entry = _decode(value)  # type: ignore[arg-type]  # bytes: decode_responses is off
        except msgspec.DecodeError:  # not ours or not this version: a miss, Redis is fine
            self.stats.errors += 1
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return entry

    def put(self, key: str, entry: Entry, ttl_s: float) -> None:
        if len(entry.body) > self.max_entry_bytes:
            self.stats.refused_too_large += 1
            return
        if self._down():
            return
        if len(self._pending) >= self.max_pending_writes:
            self.stats.dropped_writes += 1
            return
        task = asyncio.get_running_loop().create_task(
            self._set(self.prefix + key, _encode(entry), max(1, int(ttl_s * 1000)))
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _set(self, key: str, value: bytes, ttl_ms: int) -> None:
        try:
            await self.client.set(key, value, px=ttl_ms)
        except Exception:  # noqa: BLE001 - a failed write only loses a cache entry
            self._failed()
            return
        self.stats.stores += 1

    async def flush(self) -> None:
        """Wait for the writes in flight (tests, and shutdown)."""
        while self._pending:
            await asyncio.gather(*self._pending)

    async def close(self) -> None:
        await self.flush()
        await self.client.aclose()
