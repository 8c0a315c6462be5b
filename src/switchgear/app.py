"""The gateway's HTTP handler: endpoint table, error rendering, lifecycle.

Every request gets a RequestContext and runs its endpoint's chain
(pipeline/order.py). Errors are rendered here, once, in the client's own dialect;
whatever happens, the chain's ``on_complete`` runs so nothing goes unrecorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

import msgspec

from switchgear.core.context import RequestContext
from switchgear.core.errors import GatewayError, InternalError, MethodNotAllowed, NotFound
from switchgear.frontends import embeddings as embeddings_frontend
from switchgear.frontends.dialects import ANTHROPIC, OPENAI, Dialect
from switchgear.http.server import ClientDisconnected, Request, Responder
from switchgear.pipeline.order import chat_chain, embeddings_chain
from switchgear.pipeline.stage import Chain
from switchgear.runtime import Runtime
from switchgear.identity.keys import scrub
from switchgear.stages.authorize import check as authorize_check
from switchgear.telemetry.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

log = logging.getLogger("switchgear")

_JSON = [("content-type", "application/json")]
_encode = msgspec.json.encode

Handler = Callable[[Request, Responder], Awaitable[None]]


class Endpoint:
    """A chat-like endpoint: a chain plus the dialect its errors are rendered in."""

    __slots__ = ("name", "chain", "dialect")

    def __init__(self, name: str, chain: Chain, dialect: Dialect) -> None:
        self.name = name
        self.chain = chain
        self.dialect = dialect


class Gateway:
    def __init__(self, runtime: Runtime) -> None:
        self.started_at = int(time.time())
        self.ready = True
        self.inflight = 0
        self.swap(runtime)

    def swap(self, runtime: Runtime) -> None:
        """Install a new snapshot (config reload): one assignment, atomic for the loop."""
        rt = runtime
        self.runtime = rt
        self.auth = rt.authenticate
        self.chains: dict[str, Endpoint] = {
            "/v1/chat/completions": Endpoint("chat", chat_chain(rt, OPENAI), OPENAI),
            "/v1/messages": Endpoint("messages", chat_chain(rt, ANTHROPIC), ANTHROPIC),
            "/v1/embeddings": Endpoint(
                "embeddings",
                embeddings_chain(rt, embeddings_frontend.parse_embeddings, embeddings_frontend.render_embeddings),
                OPENAI,
            ),
        }
        self.gets: dict[str, Callable[[Request, Responder], None]] = {
            "/health": self._health,
            "/ready": self._ready,
            "/metrics": self._metrics,
        }
        self.admin: Any = None  # admin.api.AdminApi, installed by serve when a store is configured

    # ---- the one entry point -------------------------------------------------------------

    async def handle(self, req: Request, responder: Responder) -> None:
        ep = self.chains.get(req.path)
        if ep is not None:
            if req.method != "POST":
                return self._error(responder, ep.dialect, MethodNotAllowed(f"{req.method} is not allowed on {req.path}; use POST"))
            return await self._run(ep, req, responder)
        if req.path == "/v1/models":
            if req.method not in ("GET", "HEAD"):
                return self._error(responder, self._guess_dialect(req), MethodNotAllowed(f"{req.method} is not allowed on {req.path}; use GET"))
            try:
                return await self._models(req, responder)
            except GatewayError as e:
                return self._error(responder, self._guess_dialect(req), e)
        if req.path.startswith("/admin/"):
            return await self._admin(req, responder)
        get = self.gets.get(req.path)
        if get is not None:
            if req.method not in ("GET", "HEAD"):
                return self._error(responder, self._guess_dialect(req), MethodNotAllowed(f"{req.method} is not allowed on {req.path}; use GET"))
            try:
                return get(req, responder)
            except GatewayError as e:
                return self._error(responder, self._guess_dialect(req), e)
        # Exact paths only: "//v1/…", "/v1/chat/completions/", "%2F" tricks all land here.
        self._error(responder, self._guess_dialect(req), NotFound(f"unknown endpoint: {req.method} {scrub(req.path[:200])}"))

    async def _run(self, ep: Endpoint, req: Request, responder: Responder) -> None:
        ctx = RequestContext(ep.name, req.headers, req.body, responder)
        if req.client is not None:
            ctx.client_ip = req.client[0]
        chain = ep.chain
        self.inflight += 1
        # No on_disconnect callback: the server then cancels this task when the client goes
        # away, which stops the upstream call too. (asyncio.current_task() would cost a
        # getpid() syscall per request on Python 3.11.)
        try:
            if req.error is not None:
                raise req.error
            await chain.run(ctx)
        except GatewayError as e:
            ctx.error = e
            if not ctx.response_started:
                ctx.status = e.status
                self._error(responder, ep.dialect, e, ctx.request_id, ctx.extra_headers)
        except (ClientDisconnected, asyncio.CancelledError):
            ctx.status = 499  # client closed the connection; nginx's convention
            if not ctx.response_started:
                ctx.error = GatewayError("client disconnected", status=499, code="client_disconnected")
        except Exception:
            log.exception("unhandled error in %s (request %s)", ep.name, ctx.request_id)
            err = InternalError("internal error")
            ctx.error = err
            if not ctx.response_started:
                ctx.status = 500
                self._error(responder, ep.dialect, err, ctx.request_id)
        finally:
            self.inflight -= 1
            try:
                chain.complete(ctx)
            except Exception:  # a recording bug must never take a request down
                log.exception("on_complete failed (request %s)", ctx.request_id)

    # ---- errors ---------------------------------------------------------------------------

    @staticmethod
    def _guess_dialect(req: Request) -> Dialect:
        if "anthropic-version" in req.headers or req.path.startswith("/v1/messages"):
            return ANTHROPIC
        return OPENAI

    @staticmethod
    def _error(
        responder: Responder, dialect: Dialect, err: GatewayError, request_id: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        if responder.disconnected:
            return
        status, headers, body = dialect.render_error(err)
        if request_id is not None:
            headers = [*headers, ("x-request-id", request_id)]
        if extra:
            headers = [*headers, *extra]
        responder.send(status, headers, body)

    @staticmethod
    def _may_use(p: Any, model: str) -> bool:
        ok = any(g.covers_model(model) for g in p.rights.grants)
        if ok and p.acting_for is not None:
            ok = any(g.covers_model(model) for g in p.acting_for.rights.grants)
        return ok

    async def _admin(self, req: Request, responder: Responder) -> None:
        """The admin API: authenticated here like any caller; authorised by role inside."""
        if self.admin is None:
            return self._error(responder, OPENAI, NotFound(
                "the admin API needs a store: add `store:` to the config (see README, Identity)"))
        try:
            p = await self._principal(req)
        except GatewayError as e:
            self.admin.audit_unauthenticated(req.method, req.path, e, req.client)
            return self._error(responder, OPENAI, e)
        status, headers, body = await self.admin.handle(
            req.method, req.path, req.query, req.headers, req.body, p, req.client[0] if req.client else None)
        responder.send(status, headers, body)

    # ---- small GET endpoints ---------------------------------------------------------------

    def _health(self, req: Request, responder: Responder) -> None:
        responder.send(200, _JSON, b'{"status":"ok"}')

    def _ready(self, req: Request, responder: Responder) -> None:
        if self.ready:
            responder.send(200, _JSON, b'{"status":"ready"}')
        else:
            responder.send(503, _JSON, b'{"status":"draining"}')

    def _metrics(self, req: Request, responder: Responder) -> None:
        self.runtime.metrics.inflight = self.inflight
        responder.send(200, [("content-type", METRICS_CONTENT_TYPE)], self.runtime.metrics.render())

    async def _principal(self, req: Request) -> Any:
        auth = self.auth
        if hasattr(auth, "resolve"):
            return await auth.resolve(req.headers)
        return auth.verify(req.headers)

    async def _models(self, req: Request, responder: Responder) -> None:
        p = await self._principal(req)
        authorize_check(p, "models", None, None, None, p.label)
        if p.acting_for is not None:
            authorize_check(p.acting_for, "models", None, None, None, f"user '{p.acting_for.name}'")
        # Only the models this caller may use: the list never reveals the others.
        routes = [r for r in self.runtime.routes.exact.values() if self._may_use(p, r.name)]
        if "anthropic-version" in req.headers:
            data: list[dict[str, Any]] = [
                {"type": "model", "id": r.name, "display_name": r.name,
                 "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at))}
                for r in routes
            ]
            body = {"data": data, "has_more": False,
                    "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}
        else:
            body = {"object": "list", "data": [
                {"id": r.name, "object": "model", "created": self.started_at, "owned_by": "switchgear"} for r in routes
            ]}
        responder.send(200, _JSON, _encode(body))
