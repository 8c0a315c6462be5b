"""What the response cache stores, and the interface every store backend offers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import msgspec


class Entry(msgspec.Struct, array_like=True, frozen=True):
    """One complete, successful client-facing answer, exactly as it was sent.

    ``stream``: ``body`` is the SSE byte sequence the client received (replayed in the
    same dialect; the dialect is part of the key). Otherwise ``body`` is the JSON body
    of a 200 response. ``created`` is wall-clock seconds, so ``Age`` is right across
    gateway processes sharing a Redis store.
    """

    stream: bool
    content_type: str
    body: bytes
    created: float


@dataclass(slots=True)
class StoreStats:
    """Counters a store keeps; plain ints so the hot path pays an increment, nothing more."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    refused_too_large: int = 0  # entries over max_entry_bytes, never stored
    evictions: int = 0  # LRU evictions (memory only: Redis evicts by its own policy)
    expired: int = 0  # entries found past their TTL (memory only)
    errors: int = 0  # backend errors and timeouts, each answered as a miss (Redis only)
    skipped: int = 0  # gets/puts not tried during the cool-down after an error (Redis only)
    dropped_writes: int = 0  # writes dropped because too many were already in flight (Redis only)


class CacheStore(Protocol):
    """A key -> Entry map with per-entry TTL.

    ``get`` never raises: a broken backend is a miss. ``put`` never blocks the request
    and never raises: a remote backend writes in the background.
    """

    stats: StoreStats
    max_entry_bytes: int

    async def get(self, key: str) -> Entry | None: ...

    def put(self, key: str, entry: Entry, ttl_s: float) -> None: ...

    async def close(self) -> None: ...
