"""Read the client's body in its own dialect (cheap checks only; the canonical
request is built lazily, and never on the pass-through path)."""

from __future__ import annotations

from typing import Any

from switchgear.core.context import RequestContext


class ParseChat:
    name = "parse_request"
    __slots__ = ("dialect",)

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect

    def on_request(self, ctx: RequestContext) -> None:
        raw = self.dialect.parse_body(ctx.body)
        ctx.raw = raw
        ctx.model = raw["model"]
        ctx.stream = raw.get("stream") is True
        ctx.include_usage = self.dialect.wants_usage(raw)

    def on_complete(self, ctx: RequestContext) -> None:
        pass


class ParseEmbeddings:
    name = "parse_request"
    __slots__ = ("parse",)

    def __init__(self, parse: Any) -> None:
        self.parse = parse

    def on_request(self, ctx: RequestContext) -> None:
        req = self.parse(ctx.body)
        ctx.canonical = req
        ctx.model = req.model

    def on_complete(self, ctx: RequestContext) -> None:
        pass
