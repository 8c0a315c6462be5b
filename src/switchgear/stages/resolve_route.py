"""Which deployments may answer: the model's ordered candidates (pure function of
config and request). The routing issue adds strategies, health and placement."""

from __future__ import annotations

from switchgear.core.context import RequestContext
from switchgear.core.errors import InvalidRequest, ModelNotFound
from switchgear.routing.table import RouteTable


class ResolveRoute:
    name = "resolve_route"
    __slots__ = ("table", "kind")

    def __init__(self, table: RouteTable, kind: str) -> None:
        self.table = table
        self.kind = kind  # "chat" or "embeddings": what this endpoint serves

    def on_request(self, ctx: RequestContext) -> None:
        found = self.table.lookup(ctx.model)
        if found is None:
            raise ModelNotFound(
                f"The model '{ctx.model}' does not exist or you do not have access to it.", param="model"
            )
        route, upstream_model = found
        if route.kind != self.kind:
            raise InvalidRequest(
                f"The model '{ctx.model}' is a {route.kind} model and cannot be used on this endpoint.",
                param="model",
            )
        ctx.route = route
        ctx.upstream_model = upstream_model

    def on_complete(self, ctx: RequestContext) -> None:
        pass
