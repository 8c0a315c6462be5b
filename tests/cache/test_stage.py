"""The ResponseCache stage over real sockets: a real http.server Responder, the real
ParseChat and ResolveRoute stages, and a terminal stage that answers the way dispatch
does (through ``ctx.responder``, with the dialect's real renderers), each answer
numbered so a replay is told apart from a fresh answer.

The handler below is app.Gateway._run plus the wiring the cache needs: ``Answered``
from the chain is success.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from switchgear.cache.memory import MemoryStore
from switchgear.cache.recorder import Recorder
from switchgear.cache.redis_store import RedisStore
from switchgear.cache.stage import Answered, ResponseCache, directives
from switchgear.core.context import RequestContext
from switchgear.core.errors import (
    GatewayError,
    UpstreamServerError,
    UpstreamUnavailable,
)
from switchgear.core.types import (
    ChatResponse,
    Choice,
    Finish,
    Message,
    StreamStart,
    TextDelta,
    TextPart,
    Usage,
    UsageEvent,
)
from switchgear.frontends.dialects import ANTHROPIC, OPENAI, Dialect
from switchgear.http import ClientDisconnected, Request, Responder, start_server
from switchgear.identity.principal import Principal
from switchgear.pipeline.stage import Chain
from switchgear.routing.table import ModelRoute, RouteTable
from switchgear.stages.attempt import JSON_HEADER, SSE_HEADERS
from switchgear.stages.parse_request import ParseChat
from switchgear.stages.resolve_route import ResolveRoute
from tests.cache.conftest import Clock, free_port

PRINCIPALS = {
    "alice": Principal(id="u_alice", kind="user", name="alice", key_id="sk-a", org_id="org_1"),
    "bob": Principal(id="u_bob", kind="user", name="bob", key_id="sk-b", org_id="org_1"),
    "eve": Principal(id="u_eve", kind="user", name="eve", key_id="sk-e", org_id="org_2"),
}
ROUTES = RouteTable([ModelRoute("cached", "chat", ()), ModelRoute("plain", "chat", ())], [])
TTLS = {"cached": 60.0}
USAGE = Usage(input_tokens=11, output_tokens=7)


class Identify:
    """Stands in for authenticate: the caller is named by a test header."""

    name = "authenticate"

    def on_request(self, ctx: RequestContext) -> None:
        ctx.principal = PRINCIPALS[ctx.headers.get("x-test-caller", "alice")]

    def on_complete(self, ctx: RequestContext) -> None:
        pass


@dataclass
class Upstream:
    """The terminal stage: answers as dispatch's translated path does. ``mode``:
    ok | fail (error before the first byte) | broken (stream ends with an error event)
    | hang (stream stops after its first chunk until cancelled) | unfinished (returns
    mid-stream, a bug the server answers by cutting the connection) | outlived (watches
    for the client leaving with on_disconnect, then finishes the stream regardless)."""

    dialect: Dialect
    mode: str = "ok"
    text: str = "x"  # each answer says f"{text}{calls}"
    calls: int = 0
    name: str = "dispatch"
    responders: list[Any] = field(default_factory=list)  # what ctx.responder was, per call
    hanging: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_request(self, ctx: RequestContext) -> None:
        self.calls += 1
        self.responders.append(ctx.responder)
        answer = f"{self.text}{self.calls}"
        if self.mode == "fail":
            raise UpstreamUnavailable("no deployment answered")
        ctx.status = 200
        ctx.response_started = True
        r = ctx.responder
        if not ctx.stream:
            ctx.usage = USAGE
            msg = Message("assistant", [TextPart(answer)])
            body = self.dialect.render_response(
                ChatResponse(id=f"id{self.calls}", model=ctx.model, choices=[Choice(0, msg, "stop")], usage=USAGE),
                ctx.model,
            )
            r.send(200, [JSON_HEADER, ("x-request-id", ctx.request_id)], body)
            return
        renderer = self.dialect.stream_renderer(ctx)
        await r.start_stream(200, [*SSE_HEADERS, ("x-request-id", ctx.request_id)])
        await r.write(renderer.render(StreamStart(id=f"id{self.calls}", model=ctx.model)))
        await r.write(renderer.render(TextDelta(answer)))
        if self.mode == "hang":
            self.hanging.set()
            await asyncio.Event().wait()
        if self.mode == "unfinished":
            return
        if self.mode == "outlived":
            gone = asyncio.Event()
            r.on_disconnect(gone.set)  # the server no longer cancels us: we finish anyway
            self.hanging.set()
            await gone.wait()
        if self.mode == "broken":
            err = UpstreamServerError("the upstream stream broke")
            ctx.error = err  # as attempt._fail_stream does once the response started
            await r.end(renderer.error(err))
            return
        ctx.usage = USAGE
        out = renderer.render(Finish("stop")) + renderer.render(UsageEvent(USAGE)) + renderer.done()
        await r.end(out)

    def on_complete(self, ctx: RequestContext) -> None:
        pass


class Gateway:
    """One chat endpoint: the chain, and app._run's error handling plus ``Answered``."""

    def __init__(self, cache: ResponseCache, dialect: Dialect = OPENAI, endpoint: str = "chat") -> None:
        self.cache = cache
        self.dialect = dialect
        self.endpoint = endpoint
        self.upstream = Upstream(dialect)
        self.chain = Chain((Identify(), ParseChat(dialect), ResolveRoute(ROUTES, "chat"), cache, self.upstream))
        self.done: asyncio.Queue[RequestContext] = asyncio.Queue()

    async def handle(self, req: Request, responder: Responder) -> None:
        ctx = RequestContext(self.endpoint, req.headers, req.body, responder)
        try:
            try:
                await self.chain.run(ctx)
            except Answered:  # THE wiring the cache needs
                pass
        except GatewayError as e:
            ctx.error = e
            if not ctx.response_started:
                ctx.status = e.status
                status, headers, body = self.dialect.render_error(e)
                responder.send(status, headers, body)
        except (ClientDisconnected, asyncio.CancelledError):
            ctx.status = 499
            if not ctx.response_started:
                ctx.error = GatewayError("client disconnected", status=499, code="client_disconnected")
        finally:
            self.chain.complete(ctx)
            self.done.put_nowait(ctx)


@contextlib.asynccontextmanager
async def serving(gw: Gateway) -> AsyncIterator[int]:
    server = await start_server(gw.handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    ctx: RequestContext


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"duplicate header {name}"
            headers[name.lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    size = int((await asyncio.wait_for(reader.readline(), 5)).strip(), 16)
    data = await asyncio.wait_for(reader.readexactly(size + 2), 5)
    return data[:-2]


def request_bytes(path: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    data = msgspec.json.encode(body)
    head = f"POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + data


async def call(gw: Gateway, port: int, body: dict[str, Any], path: str = "/v1/chat/completions", **headers: str) -> Reply:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_bytes(path, body, {k.replace("_", "-"): v for k, v in headers.items()}))
        status, head = await read_head(reader)
        if "content-length" in head:
            data = await asyncio.wait_for(reader.readexactly(int(head["content-length"])), 5)
        else:
            assert head.get("transfer-encoding") == "chunked"
            parts = []
            while chunk := await read_chunk(reader):
                parts.append(chunk)
            data = b"".join(parts)
    finally:
        writer.close()
    ctx = await asyncio.wait_for(gw.done.get(), 5)
    return Reply(status, head, data, ctx)


def chat(content: str = "hello", model: str = "cached", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def text_of(reply: Reply) -> str:
    return msgspec.json.decode(reply.body)["choices"][0]["message"]["content"]


def memory_cache(clock: Clock | None = None, share: str = "caller", max_entry_bytes: int = 1 << 16) -> ResponseCache:
    store = MemoryStore(100, 1 << 20, max_entry_bytes)
    return ResponseCache(store, TTLS, share, clock=clock or Clock())  # type: ignore[arg-type]


# ---- unary and stream: miss, then hit -----------------------------------------------------


async def test_unary_miss_then_hit_replays_the_same_bytes_for_free() -> None:
    clock = Clock(5000.0)
    gw = Gateway(memory_cache(clock))
    async with serving(gw) as port:
        first = await call(gw, port, chat())
        clock.now += 42.7
        second = await call(gw, port, chat())
    assert first.status == second.status == 200
    assert first.headers["x-switchgear-cache"] == "miss"
    assert first.ctx.state is not None and first.ctx.state["cache"] == "miss"
    assert first.ctx.usage == USAGE
    assert text_of(first) == "x1"

    assert gw.upstream.calls == 1
    assert second.body == first.body
    assert second.headers["x-switchgear-cache"] == "hit"
    assert second.headers["age"] == "42"
    assert second.headers["x-switchgear-cost-usd"] == "0"
    assert second.headers["content-type"] == "application/json"
    assert second.headers["x-request-id"] == second.ctx.request_id != first.ctx.request_id
    assert second.ctx.state is not None and second.ctx.state["cache"] == "hit"
    assert second.ctx.usage == Usage()  # nothing to charge
    assert second.ctx.status == 200 and second.ctx.error is None and second.ctx.first_byte_at > 0
    c = gw.cache.counters
    assert (c.hits, c.misses, c.stored) == (1, 1, 1)


async def test_stream_miss_then_hit_replays_the_sse_bytes() -> None:
    gw = Gateway(memory_cache())
    req = chat(stream=True, stream_options={"include_usage": True})
    async with serving(gw) as port:
        first = await call(gw, port, req)
        second = await call(gw, port, req)
    assert gw.upstream.calls == 1
    assert first.headers["x-switchgear-cache"] == "miss"
    assert second.headers["x-switchgear-cache"] == "hit"
    assert second.headers["content-type"] == "text/event-stream"
    assert second.headers["cache-control"] == "no-cache"
    assert second.headers["transfer-encoding"] == "chunked"
    assert second.body == first.body
    assert b'"content":"x1"' in second.body and second.body.endswith(b"data: [DONE]\n\n")
    assert second.ctx.usage == Usage()


async def test_the_delivery_shape_is_part_of_the_key() -> None:
    gw = Gateway(memory_cache())
    async with serving(gw) as port:
        await call(gw, port, chat(stream=True))
        unary = await call(gw, port, chat())  # never served a recorded stream
        usage = await call(gw, port, chat(stream=True, stream_options={"include_usage": True}))
        again = await call(gw, port, chat(stream=True))
    assert unary.headers["x-switchgear-cache"] == "miss" and text_of(unary) == "x2"
    assert usage.headers["x-switchgear-cache"] == "miss"
    assert again.headers["x-switchgear-cache"] == "hit"
    assert gw.upstream.calls == 3


async def test_ignored_fields_and_key_order_share_one_entry() -> None:
    gw = Gateway(memory_cache())
    async with serving(gw) as port:
        await call(gw, port, {"model": "cached", "temperature": 1, "messages": [{"role": "user", "content": "q"}]})
        hit = await call(gw, port, {"messages": [{"content": "q", "role": "user"}], "user": "end-user-9",
                                    "metadata": {"k": "v"}, "temperature": 1, "model": "cached"})
    assert hit.headers["x-switchgear-cache"] == "hit"
    assert gw.upstream.calls == 1


async def test_anthropic_messages_stream_is_cached_in_its_own_dialect() -> None:
    gw = Gateway(memory_cache(), ANTHROPIC, "messages")
    req = {"model": "cached", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with serving(gw) as port:
        first = await call(gw, port, req, path="/v1/messages")
        second = await call(gw, port, req, path="/v1/messages")
    assert second.headers["x-switchgear-cache"] == "hit"
    assert second.body == first.body
    assert b"event: message_start" in second.body and b"event: message_stop" in second.body
    assert gw.upstream.calls == 1


# ---- opting in, and the client's Cache-Control ---------------------------------------------


async def test_models_that_did_not_opt_in_are_untouched() -> None:
    gw = Gateway(memory_cache())
    async with serving(gw) as port:
        a = await call(gw, port, chat(model="plain"))
        b = await call(gw, port, chat(model="plain"))
    assert "x-switchgear-cache" not in a.headers and "x-switchgear-cache" not in b.headers
    assert a.ctx.state is None and b.ctx.state is None
    assert not isinstance(a.ctx.responder, Recorder) and gw.upstream.calls == 2
    assert len(gw.cache.store) == 0  # type: ignore[arg-type]


async def test_no_cache_skips_the_lookup_but_stores_and_no_store_does_neither() -> None:
    gw = Gateway(memory_cache())
    async with serving(gw) as port:
        await call(gw, port, chat())  # x1 stored
        fresh = await call(gw, port, chat(), cache_control="no-cache")  # x2, replaces x1
        hit = await call(gw, port, chat())
        private = await call(gw, port, chat(), cache_control="max-age=0, No-Store")  # x3, not stored
        still = await call(gw, port, chat())
    assert fresh.headers["x-switchgear-cache"] == "bypass" and text_of(fresh) == "x2"
    assert fresh.ctx.state is not None and fresh.ctx.state["cache"] == "bypass"
    assert hit.headers["x-switchgear-cache"] == "hit" and text_of(hit) == "x2"
    assert "x-switchgear-cache" not in private.headers and text_of(private) == "x3"
    assert private.ctx.state is not None and private.ctx.state["cache"] == "bypass"
    assert still.headers["x-switchgear-cache"] == "hit" and text_of(still) == "x2"
    assert gw.upstream.calls == 3


# ---- scope ---------------------------------------------------------------------------------


async def test_callers_do_not_share_by_default() -> None:
    gw = Gateway(memory_cache())
    async with serving(gw) as port:
        await call(gw, port, chat(), x_test_caller="alice")
        bob = await call(gw, port, chat(), x_test_caller="bob")
        alice = await call(gw, port, chat(), x_test_caller="alice")
    assert bob.headers["x-switchgear-cache"] == "miss" and text_of(bob) == "x2"
    assert alice.headers["x-switchgear-cache"] == "hit" and text_of(alice) == "x1"


async def test_org_sharing_stays_inside_the_org() -> None:
    gw = Gateway(memory_cache(share="org"))
    async with serving(gw) as port:
        await call(gw, port, chat(), x_test_caller="alice")
        bob = await call(gw, port, chat(), x_test_caller="bob")
        eve = await call(gw, port, chat(), x_test_caller="eve")
    assert bob.headers["x-switchgear-cache"] == "hit" and text_of(bob) == "x1"
    assert eve.headers["x-switchgear-cache"] == "miss" and text_of(eve) == "x2"


async def test_share_all_crosses_orgs() -> None:
    gw = Gateway(memory_cache(share="all"))
    async with serving(gw) as port:
        await call(gw, port, chat(), x_test_caller="alice")
        eve = await call(gw, port, chat(), x_test_caller="eve")
    assert eve.headers["x-switchgear-cache"] == "hit"


# ---- only complete successes are stored --------------------------------------------------------


async def test_an_error_before_the_first_byte_is_not_stored() -> None:
    gw = Gateway(memory_cache())
    gw.upstream.mode = "fail"
    async with serving(gw) as port:
        failed = await call(gw, port, chat())
        gw.upstream.mode = "ok"
        ok = await call(gw, port, chat())
    assert failed.status == 502 and "x-switchgear-cache" not in failed.headers  # the app's error path
    assert ok.headers["x-switchgear-cache"] == "miss" and text_of(ok) == "x2"
    assert gw.cache.counters.not_stored == 1


async def test_a_stream_that_ended_with_an_error_event_is_not_stored() -> None:
    gw = Gateway(memory_cache())
    gw.upstream.mode = "broken"
    async with serving(gw) as port:
        broken = await call(gw, port, chat(stream=True))
        gw.upstream.mode = "ok"
        again = await call(gw, port, chat(stream=True))
    assert broken.status == 200 and b'"error"' in broken.body
    assert again.headers["x-switchgear-cache"] == "miss"
    assert gw.upstream.calls == 2


async def test_a_client_that_leaves_mid_stream_leaves_nothing_stored() -> None:
    gw = Gateway(memory_cache())
    gw.upstream.mode = "hang"
    async with serving(gw) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes("/v1/chat/completions", chat(stream=True), {}))
        status, head = await read_head(reader)
        assert status == 200 and head["x-switchgear-cache"] == "miss"
        assert await read_chunk(reader)
        await gw.upstream.hanging.wait()
        writer.close()
        ctx = await asyncio.wait_for(gw.done.get(), 5)
    assert ctx.status == 499
    assert len(gw.cache.store) == 0  # type: ignore[arg-type]
    assert gw.cache.counters.not_stored == 1


async def test_a_stream_never_ended_is_not_stored() -> None:
    gw = Gateway(memory_cache())
    gw.upstream.mode = "unfinished"
    async with serving(gw) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes("/v1/chat/completions", chat(stream=True), {}))
        await read_head(reader)
        ctx = await asyncio.wait_for(gw.done.get(), 5)
        writer.close()
    assert ctx.status == 200 and ctx.error is None  # nothing but the missing end says "incomplete"
    assert len(gw.cache.store) == 0  # type: ignore[arg-type]


async def test_a_stream_finished_after_the_client_left_is_not_stored() -> None:
    gw = Gateway(memory_cache())
    gw.upstream.mode = "outlived"
    async with serving(gw) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes("/v1/chat/completions", chat(stream=True), {}))
        await read_head(reader)
        await gw.upstream.hanging.wait()
        writer.close()
        ctx = await asyncio.wait_for(gw.done.get(), 5)
    assert ctx.status == 200 and ctx.error is None
    assert len(gw.cache.store) == 0  # type: ignore[arg-type]


async def test_an_answer_over_max_entry_bytes_reaches_the_client_whole_but_is_not_stored() -> None:
    gw = Gateway(memory_cache(max_entry_bytes=200))
    gw.upstream.text = "y" * 300
    async with serving(gw) as port:
        first = await call(gw, port, chat(stream=True))
        second = await call(gw, port, chat(stream=True))
    assert ("y" * 300 + "1").encode() in first.body and first.body.endswith(b"data: [DONE]\n\n")
    rec = gw.upstream.responders[0]
    assert isinstance(rec, Recorder)
    assert rec.overflow and rec.parts == [] and rec.size <= 200  # stopped copying: memory stays bounded
    assert second.headers["x-switchgear-cache"] == "miss"
    assert gw.upstream.calls == 2


# ---- the Redis backend through the stage ----------------------------------------------------------


async def test_redis_backed_hit(redis_server: str, redis_prefix: str) -> None:
    store = RedisStore.from_url(redis_server, redis_prefix, 1 << 16)
    gw = Gateway(ResponseCache(store, TTLS))
    try:
        async with serving(gw) as port:
            first = await call(gw, port, chat(stream=True))
            await store.flush()  # the write goes out in the background
            second = await call(gw, port, chat(stream=True))
    finally:
        await store.close()
    assert second.headers["x-switchgear-cache"] == "hit"
    assert second.body == first.body
    assert gw.upstream.calls == 1


async def test_a_dead_redis_is_a_miss_and_the_request_still_succeeds() -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", "p:", 1 << 16)
    gw = Gateway(ResponseCache(store, TTLS))
    try:
        async with serving(gw) as port:
            reply = await call(gw, port, chat())
    finally:
        await store.close()
    assert reply.status == 200 and text_of(reply) == "x1"
    assert reply.headers["x-switchgear-cache"] == "miss"
    assert store.stats.errors == 1


@pytest.mark.parametrize("value,expected", [
    ("no-cache", (False, True)),
    ("No-Store", (False, False)),
    ("max-age=0", (True, True)),
    ('no-cache="set-cookie", private', (False, True)),
    ("", (True, True)),
])
def test_cache_control_directives(value: str, expected: tuple[bool, bool]) -> None:
    assert directives(value) == expected
