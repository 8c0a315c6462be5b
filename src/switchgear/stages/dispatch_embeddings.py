"""The terminal stage of /v1/embeddings: candidates in order, always translated (the
format is tiny), with placement and circuit breakers like chat."""

from __future__ import annotations

from typing import Any

from switchgear.core.context import RequestContext
from switchgear.core.errors import GatewayError, UpstreamUnavailable
from switchgear.core.types import EmbeddingsRequest
from switchgear.stages import candidates
from switchgear.stages.attempt import JSON_HEADER, now, record_outcome, response_headers, send_upstream, target_for


class DispatchEmbeddings:
    """Terminal stage for /v1/embeddings (always translated: the format is tiny)."""

    name = "dispatch"
    __slots__ = ("render", "routing")

    def __init__(self, render: Any, routing: Any = None) -> None:
        self.render = render  # frontends.embeddings.render_embeddings
        self.routing = routing  # the Runtime (placement requirements, breakers)

    async def on_request(self, ctx: RequestContext) -> None:
        req: EmbeddingsRequest = ctx.canonical  # type: ignore[assignment]
        last: GatewayError | None = None
        rt = self.routing
        requirements = candidates.request_requirements(ctx.headers, ctx.requirements)
        deps, excluded = candidates.order(ctx.route, requirements, False)
        if not deps:
            assert requirements is not None
            raise candidates.unsatisfied(ctx.route, requirements, excluded)
        for dep in deps:
            breaker = rt.breakers.get(dep.name)
            if breaker is not None and not breaker.allow(now()):
                ctx.failures.append((dep.name, "circuit_open"))
                continue
            ctx.attempts += 1
            ctx.deployment = dep
            target = target_for(dep, ctx)
            try:
                build = getattr(dep.fmt, "build_embeddings_request", None)
                if build is None:
                    raise GatewayError(
                        f"provider '{dep.provider}' ({dep.fmt.name}) has no embeddings API", status=400,
                        code="unsupported_endpoint",
                    )
                up = build(req, target)
                if dep.signer is not None:
                    up = dep.signer(up)
                resp = await send_upstream(dep, up)
                try:
                    body = await resp.read()
                finally:
                    resp.close()
                result = dep.fmt.parse_embeddings_response(body, target)
            except GatewayError as e:
                if e.provider is None:
                    e.provider = dep.provider
                if breaker is not None:
                    record_outcome(breaker, e)
                if not e.retryable:
                    raise
                ctx.failures.append((dep.name, e.code))
                last = e
                continue
            except BaseException:
                if breaker is not None:
                    breaker.release(now())
                raise
            if breaker is not None:
                breaker.record_success(now())
            ctx.usage = result.usage
            ctx.status = 200
            ctx.response_started = True
            out = self.render(result, ctx.model, req.encoding_format)
            ctx.responder.send(200, response_headers(ctx, dep, (JSON_HEADER,)), out)
            return
        if last is None:
            raise UpstreamUnavailable(f"every deployment of model '{ctx.route.name}' is failing (circuit breakers open)")
        raise last

    def on_complete(self, ctx: RequestContext) -> None:
        pass
