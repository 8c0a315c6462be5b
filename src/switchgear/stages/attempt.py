"""One attempt against one deployment: build the upstream request (pass-through or
translated), send it, and answer the client (a whole response, or a stream pumped
event by event with an error event if it breaks after its first byte).

``Attempts`` holds the per-attempt methods; ``Dispatch`` (the candidate loop) builds on it.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from switchgear.core.context import RequestContext
from switchgear.core.errors import GatewayError, UnsupportedParameter, UpstreamUnavailable
from switchgear.core.types import ChatRequest, StreamError, UsageEvent
from switchgear.routing.breaker import is_breaker_failure
from switchgear.routing.table import Deployment
from switchgear.stages import first_token

now = time.monotonic  # breakers and budgets run on the monotonic clock

JSON_HEADER = ("content-type", "application/json")
SSE_HEADERS = (("content-type", "text/event-stream"), ("cache-control", "no-cache"))


def target_for(dep: Deployment, ctx: RequestContext):
    if ctx.upstream_model is None:
        return dep.target
    return msgspec.structs.replace(dep.target, model=ctx.upstream_model)


def response_headers(ctx: RequestContext, dep: Deployment, extra: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    headers = [*extra, ("x-request-id", ctx.request_id), *dep.headers]
    if ctx.extra_headers:
        headers += ctx.extra_headers
    if ctx.failures:
        headers.append(("x-switchgear-attempts", str(ctx.attempts)))
        headers.append(("x-switchgear-failed", ", ".join(f"{d}={c}" for d, c in ctx.failures)))
        if ctx.state is not None and "model" in ctx.state:
            headers.append(("x-switchgear-model", ctx.state["model"]))  # a fallback model answered
    return headers


def record_outcome(breaker: Any, err: GatewayError) -> None:
    # Deployment faults count against it; the request's own faults free a probe slot.
    if is_breaker_failure(err):
        breaker.record_failure(now())
    else:
        breaker.release(now())


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


def exhausted(
    route: Any, last: GatewayError | None, unsupported: UnsupportedParameter | None, skipped: list[Any]
) -> GatewayError:
    """The error for a model whose candidates all failed or were skipped."""
    # Prefer the upstream failure; if every candidate refused a parameter, say which.
    if last is not None:
        return last
    if unsupported is not None:
        return unsupported
    t = now()
    wait = min((b.retry_in(t) for b in skipped), default=0.0)
    return UpstreamUnavailable(
        f"every deployment of model '{route.name}' is failing (circuit breakers open)",
        retry_after=wait if wait > 0 else None,
    )


class HoldsPreamble:
    """Marker for a responder that wants a stream's preamble (role chunk, message_start)
    held back until the first token, and sent with it: hedging's racers
    (stages/hedging.py), where the first *token* wins the client."""

    __slots__ = ()


class Attempts:
    """Per-attempt mechanics; subclasses provide ``dialect``."""

    __slots__ = ()
    dialect: Any

    # ---- building the upstream request ----------------------------------------------

    def _canonical(self, ctx: RequestContext) -> ChatRequest:
        if ctx.canonical is None:
            ctx.canonical = self.dialect.to_canonical(ctx.raw)
        return ctx.canonical

    def _build(self, ctx: RequestContext, dep: Deployment) -> tuple[Any, bool]:
        target = target_for(dep, ctx)
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
            result = dep.fmt.parse_response(body, target_for(dep, ctx))
            ctx.usage = result.usage
            out = self.dialect.render_response(result, ctx.model)
        ctx.status = 200
        ctx.response_started = True
        responder.send(200, response_headers(ctx, dep, (JSON_HEADER,)), out)

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
        await responder.start_stream(200, response_headers(ctx, dep, SSE_HEADERS))

    async def _pump_passthrough(self, ctx: RequestContext, dep: Deployment, resp: Any, responder: Any) -> None:
        ps = self.dialect.passthrough_stream(dep.fmt, ctx)
        held = b""  # the body's last read: it goes out with the end of the stream, in one write
        # Hedged: the racer's preamble is held back until its first token (first_token.py).
        token = first_token.passthrough_detector(dep.fmt.name) if isinstance(responder, HoldsPreamble) else None
        pre = b""
        try:
            async for chunk in resp:
                out = ps.feed(chunk)
                if resp.complete:
                    held = out
                    break
                if out:
                    if not ctx.response_started:
                        if token is not None:
                            pre += out
                            if not token(out):
                                continue
                            out, pre = pre, b""
                        await self._begin(ctx, dep, responder)
                    await responder.write(out)
        except GatewayError as e:
            self._fail_stream(ctx, e)
            await self._end_with_error(ctx, responder, e)
            return
        if pre:
            held = pre + held
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
        parser = dep.fmt.StreamParser(target_for(dep, ctx))
        renderer = self.dialect.stream_renderer(ctx)
        hold = isinstance(responder, HoldsPreamble)  # hedged: the first token claims, not the preamble
        pre = b""
        try:
            async for chunk in resp:
                events = parser.feed(chunk)
                out = self._render(ctx, renderer, events)
                if out:
                    if not ctx.response_started:
                        if hold:
                            pre += out
                            if not first_token.events_have_token(events):
                                continue
                            out, pre = pre, b""
                        await self._begin(ctx, dep, responder)
                    await responder.write(out)
            out = self._render(ctx, renderer, parser.close()) + renderer.done()
        except GatewayError as e:
            self._fail_stream(ctx, e)
            await self._end_with_error(ctx, responder, e, renderer)
            return
        if not ctx.response_started:
            await self._begin(ctx, dep, responder)
            if pre:
                out = pre + out
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
