"""Call the upstream: try the route's candidates in order until one answers.

- Same dialect in and out (an OpenAI client and an OpenAI-format upstream): the
  client's body passes through with only the model rewritten, and so does the
  response; fields we do not know survive.
- Otherwise the canonical request is built once (lazily) and every attempt
  translates it afresh for its own wire format.
- A retryable failure moves on to the next candidate *until the first byte has
  gone to the client*; after that, a failure becomes a terminal error event in the
  client's own stream format, never a silent truncated "success".
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from switchgear.core.context import RequestContext
from switchgear.core.errors import GatewayError, UnsupportedParameter, UpstreamError
from switchgear.core.types import ChatRequest, EmbeddingsRequest, StreamError, UsageEvent
from switchgear.routing.table import Deployment

_JSON = ("content-type", "application/json")
_SSE_HEADERS = (("content-type", "text/event-stream"), ("cache-control", "no-cache"))


def _target_for(dep: Deployment, ctx: RequestContext):
    if ctx.upstream_model is None:
        return dep.target
    return msgspec.structs.replace(dep.target, model=ctx.upstream_model)


def _response_headers(ctx: RequestContext, dep: Deployment, extra: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    headers = [*extra, ("x-request-id", ctx.request_id), *dep.headers]
    if ctx.attempts > 1:
        headers.append(("x-switchgear-attempts", str(ctx.attempts)))
        headers.append(("x-switchgear-failed", ", ".join(f"{d}={c}" for d, c in ctx.failures)))
    return headers


async def send_upstream(dep: Deployment, up: Any) -> Any:
    """Send one attempt; an HTTP error status becomes the format's typed error."""
    resp = await dep.pool.request(
        up.method,
        up.path,
        up.headers,
        up.body,
        first_byte_timeout=dep.first_token_timeout,
        idle_timeout=dep.idle_timeout,
        total_timeout=dep.total_timeout,
    )
    if resp.status >= 400:
        try:
            body = await resp.read()
        finally:
            resp.close()
        err = dep.fmt.parse_error(resp.status, resp.headers, body)
        err.provider = dep.provider
        raise err
    return resp


class Dispatch:
    """Terminal stage for chat endpoints; ``dialect`` is the client's frontend."""

    name = "dispatch"
    __slots__ = ("dialect", "on_attempt_failure")

    def __init__(self, dialect: Any, on_attempt_failure: Any = None) -> None:
        self.dialect = dialect
        self.on_attempt_failure = on_attempt_failure  # callable(provider, code) for metrics

    async def on_request(self, ctx: RequestContext) -> None:
        last: GatewayError | None = None
        unsupported: UnsupportedParameter | None = None
        for dep in ctx.route.deployments:
            ctx.attempts += 1
            ctx.deployment = dep
            try:
                if ctx.stream:
                    await self._stream(ctx, dep, ctx.responder)
                else:
                    await self._unary(ctx, dep, ctx.responder)
                return
            except UnsupportedParameter as e:
                # This deployment cannot honour the request as asked: not eligible, and
                # no upstream was called. Another candidate may take it.
                ctx.failures.append((dep.name, e.code))
                unsupported = unsupported or e
            except GatewayError as e:
                if isinstance(e, UpstreamError):
                    if e.provider is None:
                        e.provider = dep.provider
                    if self.on_attempt_failure is not None:
                        self.on_attempt_failure(dep.provider, e.code)
                if ctx.response_started or not e.retryable:
                    raise
                ctx.failures.append((dep.name, e.code))
                last = e
        # Prefer the upstream failure; if every candidate refused a parameter, say which.
        err = last or unsupported
        assert err is not None
        raise err

    def on_complete(self, ctx: RequestContext) -> None:
        pass

    # ---- building the upstream request ----------------------------------------------

    def _canonical(self, ctx: RequestContext) -> ChatRequest:
        if ctx.canonical is None:
            ctx.canonical = self.dialect.to_canonical(ctx.raw)
        return ctx.canonical

    def _build(self, ctx: RequestContext, dep: Deployment) -> tuple[Any, bool]:
        target = _target_for(dep, ctx)
        raw = ctx.raw
        # Pass through unless the client used a parameter this vendor cannot honour: then
        # translate, so the vendor's policy (a 400 naming it, or a drop) applies.
        dialect = self.dialect
        passthrough = (
            dep.fmt.name == dialect.native_format
            and not (target.unsupported and dialect.uses_any(raw, target.unsupported))
            and not dialect.must_translate(raw)
        )
        if passthrough:
            up = dep.fmt.build_passthrough(raw, target, ctx.stream)
        else:
            up = dep.fmt.build_request(self._canonical(ctx), target)
        if dep.signer is not None:
            up = dep.signer(up)
        return up, passthrough

    # ---- non-streaming ------------------------------------------------------------------

    async def _unary(self, ctx: RequestContext, dep: Deployment, responder: Any) -> None:
        up, passthrough = self._build(ctx, dep)
        resp = await send_upstream(dep, up)
        try:
            body = await resp.read()
        finally:
            resp.close()
        if passthrough:
            ctx.usage = dep.fmt.usage_from_response(body)  # decodes the usage object only
            out = body
        else:
            result = dep.fmt.parse_response(body, _target_for(dep, ctx))
            ctx.usage = result.usage
            out = self.dialect.render_response(result, ctx.model)
        ctx.status = 200
        ctx.response_started = True
        responder.send(200, _response_headers(ctx, dep, (_JSON,)), out)

    # ---- streaming ----------------------------------------------------------------------

    async def _stream(self, ctx: RequestContext, dep: Deployment, responder: Any) -> None:
        up, passthrough = self._build(ctx, dep)
        resp = await send_upstream(dep, up)
        try:
            if passthrough:
                await self._pump_passthrough(ctx, dep, resp, responder)
            else:
                await self._pump_translated(ctx, dep, resp, responder)
        finally:
            resp.close()

    async def _begin(self, ctx: RequestContext, dep: Deployment, responder: Any) -> None:
        ctx.status = 200
        ctx.response_started = True
        ctx.first_byte_at = time.perf_counter()
        await responder.start_stream(200, _response_headers(ctx, dep, _SSE_HEADERS))

    async def _pump_passthrough(self, ctx: RequestContext, dep: Deployment, resp: Any, responder: Any) -> None:
        ps = self.dialect.passthrough_stream(dep.fmt, ctx)
        held = b""  # the body's last read: it goes out with the end of the stream, in one write
        try:
            async for chunk in resp:
                out = ps.feed(chunk)
                if resp.complete:
                    held = out
                    break
                if out:
                    if not ctx.response_started:
                        await self._begin(ctx, dep, responder)
                    await responder.write(out)
        except GatewayError as e:
            self._fail_stream(ctx, e)
            await self._end_with_error(ctx, responder, e)
            return
        forwarded = ps.error  # an upstream error event, forwarded as it came
        held += ps.close()  # end of body: may add a terminator, or flag a cut stream
        ctx.usage = ps.usage
        if ps.error is not None:
            self._fail_stream(ctx, ps.error)  # nothing sent yet: fail over instead
            if ps.error is forwarded:
                await responder.end(held)
            else:
                if held:
                    await responder.write(held)
                await self._end_with_error(ctx, responder, ps.error)
            return
        if not ctx.response_started:
            await self._begin(ctx, dep, responder)
        await responder.end(held)

    async def _pump_translated(self, ctx: RequestContext, dep: Deployment, resp: Any, responder: Any) -> None:
        parser = dep.fmt.StreamParser(_target_for(dep, ctx))
        renderer = self.dialect.stream_renderer(ctx)
        try:
            async for chunk in resp:
                out = self._render(ctx, renderer, parser.feed(chunk))
                if out:
                    if not ctx.response_started:
                        await self._begin(ctx, dep, responder)
                    await responder.write(out)
            out = self._render(ctx, renderer, parser.close()) + renderer.done()
        except GatewayError as e:
            self._fail_stream(ctx, e)
            await self._end_with_error(ctx, responder, e, renderer)
            return
        if not ctx.response_started:
            await self._begin(ctx, dep, responder)
        await responder.end(out)  # the last events and the terminating chunk: one write

    def _render(self, ctx: RequestContext, renderer: Any, events: list) -> bytes:
        if not events:
            return b""
        parts = []
        for ev in events:
            kind = type(ev)
            if kind is StreamError:
                raise ev.error
            if kind is UsageEvent:
                ctx.usage = ev.usage
            parts.append(renderer.render(ev))
        return b"".join(parts)

    def _fail_stream(self, ctx: RequestContext, err: GatewayError) -> None:
        if not ctx.response_started:
            raise err  # nothing sent yet: let the candidate loop fail over
        ctx.error = err

    async def _end_with_error(
        self, ctx: RequestContext, responder: Any, err: GatewayError, renderer: Any = None
    ) -> None:
        frame = renderer.error(err) if renderer is not None else self.dialect.stream_error_frame(err)
        await responder.end(frame)


class DispatchEmbeddings:
    """Terminal stage for /v1/embeddings (always translated: the format is tiny)."""

    name = "dispatch"
    __slots__ = ("render",)

    def __init__(self, render: Any) -> None:
        self.render = render  # frontends.embeddings.render_embeddings

    async def on_request(self, ctx: RequestContext) -> None:
        req: EmbeddingsRequest = ctx.canonical  # type: ignore[assignment]
        last: GatewayError | None = None
        for dep in ctx.route.deployments:
            ctx.attempts += 1
            ctx.deployment = dep
            target = _target_for(dep, ctx)
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
                if not e.retryable:
                    raise
                ctx.failures.append((dep.name, e.code))
                last = e
                continue
            ctx.usage = result.usage
            ctx.status = 200
            ctx.response_started = True
            out = self.render(result, ctx.model, req.encoding_format)
            ctx.responder.send(200, _response_headers(ctx, dep, (_JSON,)), out)
            return
        assert last is not None
        raise last

    def on_complete(self, ctx: RequestContext) -> None:
        pass
