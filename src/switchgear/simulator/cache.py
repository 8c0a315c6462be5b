"""Prompt-prefix memory for simulated prompt caching.

A request's prompt is cut into prefixes: at message boundaries for automatic
caching (OpenAI, Gemini) or at explicit breakpoints (Anthropic ``cache_control``,
Bedrock ``cachePoint``). Each prefix is a chained hash plus the tokens it spans.
``hit`` returns the tokens of the longest prefix seen before and remembers all
of them. Bounded (LRU), per simulator.
"""

from __future__ import annotations

from collections import OrderedDict

from switchgear.simulator.text import prefix_key


class Prefixes:
    """Builds the chained prefix keys of one prompt."""

    __slots__ = ("_key", "_tokens", "marks")

    def __init__(self, namespace: str) -> None:
        self._key = prefix_key(b"", namespace.encode())
        self._tokens = 0
        self.marks: list[tuple[bytes, int]] = []

    def add(self, part: bytes, tokens: int) -> None:
        self._key = prefix_key(self._key, part)
        self._tokens += tokens

    def mark(self) -> None:
        self.marks.append((self._key, self._tokens))

    @property
    def tokens(self) -> int:
        return self._tokens


class PromptCache:
    __slots__ = ("_seen", "_capacity")

    def __init__(self, capacity: int = 4096) -> None:
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._capacity = capacity

    def hit(self, marks: list[tuple[bytes, int]]) -> int:
        best = 0
        for key, tokens in marks:
            if key in self._seen:
                self._seen.move_to_end(key)
                best = max(best, tokens)
            else:
                self._seen[key] = None
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return best

    def clear(self) -> None:
        self._seen.clear()
