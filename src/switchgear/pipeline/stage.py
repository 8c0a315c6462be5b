"""The stage protocol and the chain runner.

A stage may act on the way in (``on_request``: in order; it may raise a typed
GatewayError to answer early; plain or ``async def`` — only stages that do I/O should
be coroutines, since each await costs a coroutine on every request) and on the way out (``on_complete``: in reverse
order, always called — success, error or client disconnect — so accounting and
records are never lost). This is Envoy's filter chain, kept deliberately small.
"""

from __future__ import annotations

import inspect
from typing import Any, Awaitable, Callable, Protocol

from switchgear.core.context import RequestContext


class Answered(Exception):
    """A stage has sent the complete response itself (a cache hit): stop the chain; this
    is success. Raised after ctx.status, ctx.response_started and ctx.usage are set."""


class Stage(Protocol):
    name: str

    def on_request(self, ctx: RequestContext) -> Awaitable[None] | None: ...

    def on_complete(self, ctx: RequestContext) -> None: ...


class Chain:
    __slots__ = ("stages", "_calls", "_reversed")

    def __init__(self, stages: tuple[Stage, ...]) -> None:
        self.stages = stages
        # (callable, awaits?) decided once here, not per request.
        self._calls: tuple[tuple[Callable[[RequestContext], Any], bool], ...] = tuple(
            (s.on_request, inspect.iscoroutinefunction(s.on_request)) for s in stages
        )
        self._reversed = tuple(reversed(stages))

    async def run(self, ctx: RequestContext) -> None:
        try:
            for call, awaits in self._calls:
                if awaits:
                    await call(ctx)
                else:
                    call(ctx)
        except Answered:
            pass  # a stage answered the request itself

    def complete(self, ctx: RequestContext) -> None:
        for stage in self._reversed:
            stage.on_complete(ctx)
