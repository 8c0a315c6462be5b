"""In-process response cache: an LRU with per-entry TTL and three size bounds.

- ``max_entries``: entry count;
- ``max_bytes``: the sum of entry sizes, where an entry's size is its body, its key and
  a fixed ``ENTRY_OVERHEAD`` for the Python objects around them (so many tiny entries
  cannot hide behind a byte budget);
- ``max_entry_bytes``: an entry larger than this is refused, never stored.

get and put are O(1): an OrderedDict (C implementation) whose order is recency;
eviction pops from the least-recent end. Expired entries are dropped when they are
found or when LRU pressure reaches them; they count toward the bounds until then, so
the bounds always hold. The clock is injectable (monotonic seconds) for tests.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from switchgear.cache.entry import Entry, StoreStats

ENTRY_OVERHEAD = 256  # bytes: the Entry, its tuple slot, the dict node and the key object


class MemoryStore:
    __slots__ = ("_bytes", "_clock", "_items", "max_bytes", "max_entries", "max_entry_bytes", "stats")

    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        max_entry_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min(max_entries, max_bytes, max_entry_bytes) < 1:
            raise ValueError("cache sizes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self.stats = StoreStats()
        # key -> (expires_at, size, entry)
        self._items: OrderedDict[str, tuple[float, int, Entry]] = OrderedDict()
        self._bytes = 0
        self._clock = clock

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def get_now(self, key: str) -> Entry | None:
        """``get`` without a coroutine: the stage calls this directly for the memory backend."""
        slot = self._items.get(key)
        if slot is None:
            self.stats.misses += 1
            return None
        if slot[0] <= self._clock():
            del self._items[key]
            self._bytes -= slot[1]
            self.stats.expired += 1
            self.stats.misses += 1
            return None
        self._items.move_to_end(key)
        self.stats.hits += 1
        return slot[2]

    async def get(self, key: str) -> Entry | None:
        return self.get_now(key)

    def put(self, key: str, entry: Entry, ttl_s: float) -> None:
        if len(entry.body) > self.max_entry_bytes:
            self.stats.refused_too_large += 1
            return
        size = len(entry.body) + len(key) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            self.stats.refused_too_large += 1
            return
        items = self._items
        old = items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        items[key] = (self._clock() + ttl_s, size, entry)
        self._bytes += size
        self.stats.stores += 1
        # The new entry is the most recent, so it is never the one evicted here.
        while len(items) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, s, _) = items.popitem(last=False)
            self._bytes -= s
            self.stats.evictions += 1

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0

    async def close(self) -> None:
        self.clear()
