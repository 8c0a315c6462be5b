"""The stage protocol and the chain runner.

A stage may act on the way in (``on_request``: in order; it may raise a typed
GatewayError to answer early) and on the way out (``on_complete``: in reverse
order, always called — success, error or client disconnect — so accounting and
records are never lost). This is Envoy's filter chain, kept deliberately small.
"""

from __future__ import annotations

from typing import Protocol

from switchgear.core.context import RequestContext


class Stage(Protocol):
    name: str

    async def on_request(self, ctx: RequestContext) -> None: ...

    def on_complete(self, ctx: RequestContext) -> None: ...


class Chain:
    __slots__ = ("stages", "_reversed")

    def __init__(self, stages: tuple[Stage, ...]) -> None:
        self.stages = stages
        self._reversed = tuple(reversed(stages))

    async def run(self, ctx: RequestContext) -> None:
        for stage in self.stages:
            await stage.on_request(ctx)

    def complete(self, ctx: RequestContext) -> None:
        for stage in self._reversed:
            stage.on_complete(ctx)
