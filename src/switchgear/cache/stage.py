"""The response cache stage for the chat endpoints (OpenAI Chat Completions, Anthropic
Messages). Sits right before dispatch; see cache/__init__.py for the wiring.

on_request, for a model that opted in (``ttls`` has its route name):
  Cache-Control: no-store  neither look up nor store          state "bypass"
  Cache-Control: no-cache  do not look up; store the fresh answer  state "bypass"
  otherwise                look up:
    hit   replay the stored answer through ctx.responder (a 200 in one send, or a stream
          start_stream + write + end with the SSE bytes as first sent), headers
          ``x-switchgear-cache: hit``, ``age`` and ``x-switchgear-cost-usd: 0``;
          ctx.usage = zero Usage, so metering, budgets and token limits charge nothing;
          then raise ``Answered`` to stop the chain.              state "hit"
    miss  install a Recorder on ctx.responder (adds ``x-switchgear-cache: miss``) and
          let dispatch answer.                                 state "miss"
on_complete: store what the Recorder saw if the request succeeded: no ctx.error, status
  200, a whole response (a stream reached its end), within max_entry_bytes, client
  still connected. A stream that ended with an error event has ctx.error set (attempt.py)
  and is never stored; neither is a client disconnect (status 499).

The replayed body is byte-for-byte what was first sent, including its ``usage`` token
counts (they describe the answer; rewriting them would mean parsing every dialect's
stream). That the answer cost nothing is said by the headers and by ctx.usage.
Models that did not opt in cost one dict lookup and get no header and no ctx.state.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from switchgear.cache.entry import CacheStore, Entry, StoreStats
from switchgear.cache.key import Share, cache_key, scope_for, shape_for
from switchgear.cache.memory import MemoryStore
from switchgear.cache.recorder import Recorder
from switchgear.core.context import RequestContext
from switchgear.core.types import Usage

HEADER = "x-switchgear-cache"
_MISS = (HEADER, "miss")
_BYPASS = (HEADER, "bypass")
_HIT = (HEADER, "hit")
_FREE = ("x-switchgear-cost-usd", "0")
_NO_CACHE = ("cache-control", "no-cache")  # as dispatch sends on a live stream
_RECORDER = "cache_recorder"  # ctx.state key of this request's Recorder


from switchgear.pipeline.stage import Answered  # noqa: E402 - re-exported for callers


def directives(value: str) -> tuple[bool, bool]:
    """(look up?, store?) from a request's Cache-Control header (RFC 9111 5.2.1)."""
    lookup = store = True
    for part in value.split(","):
        d = part.split("=", 1)[0].strip().lower()
        if d == "no-store":
            lookup = store = False
        elif d == "no-cache":
            lookup = False
    return lookup, store


class CacheCounters:
    """What the stage decided, per request (the store's own StoreStats count backend events)."""

    __slots__ = ("bypasses", "hits", "misses", "not_stored", "stored")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.bypasses = 0
        self.stored = 0
        self.not_stored = 0  # misses whose answer failed, was cut, or was too large


class ResponseCache:
    """``ttls``: route name -> seconds, for the models that opted in (``ModelConfig.cache``).
    ``clock``: wall-clock seconds, for ``Entry.created`` and the ``age`` header."""

    name = "cache"
    __slots__ = ("_clock", "_get_now", "counters", "max_entry_bytes", "share", "store", "ttls")

    def __init__(
        self,
        store: CacheStore,
        ttls: dict[str, float],
        share: Share = "caller",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ttls = ttls
        self.share: Share = share
        self.max_entry_bytes = store.max_entry_bytes
        self.counters = CacheCounters()
        # The default backend answers without I/O: skip a coroutine per lookup.
        self._get_now = store.get_now if isinstance(store, MemoryStore) else None
        self._clock = clock

    @property
    def stats(self) -> StoreStats:
        return self.store.stats

    async def on_request(self, ctx: RequestContext) -> None:
        route = ctx.route
        ttl = self.ttls.get(route.name) if route is not None else None
        if ttl is None:
            return
        state = ctx.state
        if state is None:
            state = ctx.state = {}
        cc = ctx.headers.get("cache-control")
        lookup, store = directives(cc) if cc is not None else (True, True)
        scope = scope_for(ctx.principal, self.share) if store else None
        if scope is None:
            state["cache"] = "bypass"
            self.counters.bypasses += 1
            return
        raw = ctx.raw
        assert raw is not None  # parse_request runs first
        key = cache_key(ctx.endpoint, shape_for(ctx.stream, ctx.include_usage), ctx.model, scope, raw)
        if lookup:
            get_now = self._get_now
            entry = get_now(key) if get_now is not None else await self.store.get(key)
            if entry is not None:
                state["cache"] = "hit"
                self.counters.hits += 1
                await self._replay(ctx, entry)
                raise Answered
            state["cache"] = "miss"
            self.counters.misses += 1
            header = _MISS
        else:
            state["cache"] = "bypass"
            self.counters.bypasses += 1
            header = _BYPASS
        rec = Recorder(ctx.responder, key, ttl, self.max_entry_bytes, header)
        state[_RECORDER] = rec
        ctx.responder = rec

    async def _replay(self, ctx: RequestContext, entry: Entry) -> None:
        ctx.usage = Usage()  # a cached answer uses no upstream tokens: nothing to charge
        ctx.status = 200
        ctx.response_started = True
        ctx.first_byte_at = time.perf_counter()
        age = max(0, int(self._clock() - entry.created))
        headers = [
            ("content-type", entry.content_type),
            ("x-request-id", ctx.request_id),
            _HIT,
            ("age", str(age)),
            _FREE,
        ]
        if ctx.extra_headers:  # rate-limit headers: a hit counts against the limits too
            headers += ctx.extra_headers
        responder = ctx.responder
        if entry.stream:
            headers.append(_NO_CACHE)
            await responder.start_stream(200, headers)
            await responder.write(entry.body)  # one chunk; write() honours back-pressure
            await responder.end()
        else:
            responder.send(200, headers, entry.body)

    def on_complete(self, ctx: RequestContext) -> None:
        state = ctx.state
        if state is None:
            return
        rec = state.pop(_RECORDER, None)
        if rec is None:
            return
        if ctx.error is None and ctx.status == 200 and rec.storable:
            entry = Entry(rec.stream, rec.content_type, rec.body(), self._clock())
            self.store.put(rec.key, entry, rec.ttl_s)
            self.counters.stored += 1
        else:
            self.counters.not_stored += 1
