"""The in-process store: LRU order, TTL and the three size bounds, on an injected clock."""

from __future__ import annotations

import pytest

from switchgear.cache.entry import Entry
from switchgear.cache.memory import ENTRY_OVERHEAD, MemoryStore
from tests.cache.conftest import Clock


def entry(body: bytes = b'{"ok":true}', stream: bool = False) -> Entry:
    return Entry(stream, "text/event-stream" if stream else "application/json", body, 0.0)


def store(clock: Clock | None = None, **kw) -> MemoryStore:
    args = {"max_entries": 100, "max_bytes": 1 << 20, "max_entry_bytes": 1 << 16}
    args.update(kw)
    return MemoryStore(clock=clock or Clock(), **args)


async def test_put_then_get_returns_the_entry() -> None:
    s = store()
    e = entry(b"data: x\n\n", stream=True)
    s.put("k", e, 60)
    assert await s.get("k") == e
    assert s.get_now("k") == e
    assert s.get_now("other") is None
    assert (s.stats.hits, s.stats.misses, s.stats.stores) == (2, 1, 1)


def test_entries_expire_after_their_own_ttl() -> None:
    clock = Clock()
    s = store(clock)
    s.put("short", entry(), 10)
    s.put("long", entry(), 100)
    clock.now += 9.999
    assert s.get_now("short") is not None
    clock.now += 0.001
    assert s.get_now("short") is None  # expired at exactly ttl
    assert s.get_now("long") is not None
    assert s.stats.expired == 1
    assert len(s) == 1  # the expired entry was dropped when found, and its bytes released
    assert s.bytes == len(entry().body) + len("long") + ENTRY_OVERHEAD


def test_replacing_a_key_resets_its_ttl_and_bytes() -> None:
    clock = Clock()
    s = store(clock)
    s.put("k", entry(b"a" * 100), 10)
    clock.now += 8
    s.put("k", entry(b"b" * 10), 10)
    clock.now += 8
    got = s.get_now("k")
    assert got is not None and got.body == b"b" * 10
    assert len(s) == 1
    assert s.bytes == 10 + 1 + ENTRY_OVERHEAD


def test_max_entries_evicts_the_least_recently_used() -> None:
    s = store(max_entries=3)
    for k in "abc":
        s.put(k, entry(), 60)
    assert s.get_now("a") is not None  # a is now the most recent; b the least
    s.put("d", entry(), 60)
    assert len(s) == 3
    assert s.get_now("b") is None
    assert all(s.get_now(k) is not None for k in "acd")
    assert s.stats.evictions == 1


def test_max_bytes_evicts_until_the_total_fits() -> None:
    per = 100 + 1 + ENTRY_OVERHEAD
    s = store(max_bytes=3 * per)
    for k in "abc":
        s.put(k, entry(b"x" * 100), 60)
    assert s.bytes == 3 * per
    s.put("d", entry(b"y" * 300), 60)  # needs the room of two 100-byte entries and more
    assert s.bytes <= 3 * per
    assert s.get_now("a") is None and s.get_now("b") is None
    assert s.get_now("c") is not None and s.get_now("d") is not None
    assert s.stats.evictions == 2


def test_entries_over_max_entry_bytes_are_refused() -> None:
    s = store(max_entry_bytes=10)
    s.put("k", entry(b"x" * 11), 60)
    assert s.get_now("k") is None
    assert len(s) == 0 and s.bytes == 0
    assert s.stats.refused_too_large == 1
    s.put("k", entry(b"x" * 10), 60)
    assert s.get_now("k") is not None


def test_an_entry_larger_than_the_whole_budget_is_refused_without_evicting() -> None:
    s = store(max_bytes=ENTRY_OVERHEAD + 50)
    s.put("a", entry(b"x"), 60)
    s.put("b", entry(b"x" * 100), 60)
    assert s.get_now("a") is not None
    assert s.stats.refused_too_large == 1 and s.stats.evictions == 0


def test_bounds_hold_under_churn() -> None:
    clock = Clock()
    s = store(clock, max_entries=50, max_bytes=50 * (ENTRY_OVERHEAD + 40))
    for i in range(2000):
        s.put(f"k{i}", entry(b"z" * (i % 64)), 5 + i % 7)
        clock.now += 0.01
        assert len(s) <= 50
        assert s.bytes <= s.max_bytes
    assert s.bytes == sum(len(e.body) + len(k) + ENTRY_OVERHEAD for k, (_, _, e) in s._items.items())


def test_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryStore(0, 1, 1)
