"""The client-facing HTTP server, driven over real sockets by raw bytes and by httpx."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import httpx2 as httpx
import msgspec
import pytest

from switchgear.core.errors import InvalidRequest, PayloadTooLarge
from switchgear.http import ClientDisconnected, Request, Responder, ServerLimits, start_server

# ---- helpers ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(handler, **limits) -> AsyncIterator[int]:
    server = await start_server(handler, "127.0.0.1", 0, ServerLimits(**limits))
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 2)


async def connect(port: int, rcvbuf: int | None = None):
    if rcvbuf is None:
        return await asyncio.open_connection("127.0.0.1", port)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return await asyncio.open_connection(sock=sock)


async def read_response(reader: asyncio.StreamReader, head_only: bool = False):
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"duplicate header {name}"
            headers[name.lower()] = value.strip()
    if head_only or status in (100, 204, 304):
        return status, headers, b""
    if "content-length" in headers:
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 2)
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            line = await asyncio.wait_for(reader.readline(), 2)
            if not line.endswith(b"\n"):
                raise asyncio.IncompleteReadError(line, None)
            size = int(line.strip(), 16)
            data = await asyncio.wait_for(reader.readexactly(size + 2), 2)
            assert data.endswith(b"\r\n")
            if size == 0:
                break
            parts.append(data[:-2])
        body = b"".join(parts)
    else:
        body = await asyncio.wait_for(reader.read(), 2)
    return status, headers, body


async def assert_closed(reader: asyncio.StreamReader, within: float = 2.0) -> None:
    try:
        rest = await asyncio.wait_for(reader.read(), within)
    except ConnectionError:  # reset or broken pipe: closed all the same
        return
    assert rest == b"", rest


async def echo(req: Request, resp: Responder) -> None:
    if req.error is not None:
        body = msgspec.json.encode({"error": req.error.code, "message": req.error.message})
        resp.send(req.error.status, [("content-type", "application/json")], body)
        return
    doc = {
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "headers": req.headers,
        "body": req.body.decode("latin-1"),
        "port": req.client[1] if req.client else None,
    }
    resp.send(200, [("content-type", "application/json"), ("x-echo", "1")], msgspec.json.encode(doc))


def get(path: str = "/", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()


# ---- parsing, keep-alive, HTTP/1.0 ----------------------------------------------------


async def test_request_fields_and_keep_alive() -> None:
    async with serving(echo) as port:
        reader, writer = await connect(port)
        writer.write(
            b"POST /v1/chat%2Fcompletions//x?a=1&b=%20 HTTP/1.1\r\nHost: t\r\n"
            b"X-Multi: one\r\nx-multi: two\r\nContent-Length: 5\r\n\r\nhello"
        )
        status, headers, body = await read_response(reader)
        assert status == 200 and headers["x-echo"] == "1"
        doc = msgspec.json.decode(body)
        assert doc["method"] == "POST"
        assert doc["path"] == "/v1/chat%2Fcompletions//x"  # raw, not normalised
        assert doc["query"] == "a=1&b=%20"
        assert doc["headers"]["x-multi"] == "one, two"
        assert doc["headers"]["host"] == "t"
        assert doc["body"] == "hello"
        assert "connection" not in headers  # HTTP/1.1 keep-alive is the default
        first_port = doc["port"]

        writer.write(get("/again"))
        status, _, body = await read_response(reader)
        doc = msgspec.json.decode(body)
        assert (status, doc["path"], doc["query"], doc["port"]) == (200, "/again", "", first_port)
        writer.close()


async def test_connection_close_is_honoured() -> None:
    async with serving(echo) as port:
        reader, writer = await connect(port)
        writer.write(get("/", "Connection: close\r\n") + get("/ignored"))
        status, headers, _ = await read_response(reader)
        assert status == 200 and headers["connection"] == "close"
        await assert_closed(reader)  # the second request is not answered
        writer.close()


async def test_http10_closes_unless_keep_alive_requested() -> None:
    async with serving(echo) as port:
        reader, writer = await connect(port)
        writer.write(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, _ = await read_response(reader)
        assert status == 200 and headers["connection"] == "keep-alive"
        writer.write(b"GET /b HTTP/1.0\r\n\r\n")
        status, headers, body = await read_response(reader)
        assert status == 200 and msgspec.json.decode(body)["path"] == "/b"
        await assert_closed(reader)
        writer.close()


async def test_http10_stream_is_delimited_by_close() -> None:
    async def handler(req: Request, resp: Responder) -> None:
        await resp.start_stream(200, [("content-type", "text/plain")])
        await resp.write(b"abc")
        await resp.write(b"def")
        await resp.end()

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, body = await read_response(reader)
        assert status == 200 and "transfer-encoding" not in headers and body == b"abcdef"
        writer.close()


async def test_pipelined_requests_are_answered_in_order_one_at_a_time() -> None:
    active = 0
    most = 0

    async def handler(req: Request, resp: Responder) -> None:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.02 if req.path == "/0" else 0)
        active -= 1
        resp.send(200, [], req.path.encode() + b"|" + req.body)

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(
            get("/0")
            + b"POST /1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
            + b"POST /2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
            + get("/3")
        )
        bodies = [(await read_response(reader))[2] for _ in range(4)]
        assert bodies == [b"/0|", b"/1|abc", b"/2|xy", b"/3|"]
        assert most == 1
        writer.close()


@pytest.mark.parametrize("max_pipelined", [1, 2])
async def test_pipelining_flood_pauses_reading_and_loses_nothing(max_pipelined: int) -> None:
    async def handler(req: Request, resp: Responder) -> None:
        await asyncio.sleep(0)
        resp.send(200, [], req.path.encode())

    async with serving(handler, max_pipelined=max_pipelined) as port:
        reader, writer = await connect(port)

        async def send() -> None:
            for batch in range(20):  # separate packets: reading must pause and resume
                writer.write(b"".join(get(f"/{batch * 10 + i}") for i in range(10)))
                await writer.drain()
                await asyncio.sleep(0.005)

        sender = asyncio.create_task(send())
        bodies = [(await read_response(reader))[2] for _ in range(200)]
        await sender
        assert bodies == [f"/{i}".encode() for i in range(200)]
        writer.close()


async def test_head_response_has_length_but_no_body() -> None:
    async def handler(req: Request, resp: Responder) -> None:
        resp.send(200, [("content-type", "text/plain")], b"twelve bytes")

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(b"HEAD / HTTP/1.1\r\n\r\n" + get("/"))
        status, headers, _ = await read_response(reader, head_only=True)
        assert status == 200 and headers["content-length"] == "12"
        # Had the HEAD response carried a body, this would read those bytes as a status line.
        status, _, body = await read_response(reader)
        assert (status, body) == (200, b"twelve bytes")
        writer.close()


async def test_framing_headers_from_the_handler_are_not_doubled() -> None:
    async def handler(req: Request, resp: Responder) -> None:
        resp.send(200, [("Content-Length", "999"), ("Connection", "keep-alive"), ("x-a", "b")], b"ok")

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(get())
        status, headers, body = await read_response(reader)  # asserts no duplicate names
        assert (status, headers["content-length"], body, headers["x-a"]) == (200, "2", b"ok", "b")
        writer.close()


# ---- request bodies -------------------------------------------------------------------


async def test_expect_100_continue() -> None:
    async with serving(echo) as port:
        reader, writer = await connect(port)
        writer.write(b"POST /e HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"body")
        status, _, body = await read_response(reader)
        assert status == 200 and msgspec.json.decode(body)["body"] == "body"
        writer.close()


async def test_chunked_request_body_split_across_packets() -> None:
    async with serving(echo) as port:
        reader, writer = await connect(port)
        writer.write(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
        await asyncio.sleep(0.01)
        writer.write(b"lo\r\n6\r\n wor")
        await asyncio.sleep(0.01)
        writer.write(b"ld\r\n0\r\n\r\n")
        status, _, body = await read_response(reader)
        assert status == 200 and msgspec.json.decode(body)["body"] == "hello world"
        writer.close()


async def test_declared_body_over_limit_is_refused_unread() -> None:
    seen: list[Request] = []

    async def handler(req: Request, resp: Responder) -> None:
        seen.append(req)
        await echo(req, resp)

    async with serving(handler, max_body_bytes=1000) as port:
        reader, writer = await connect(port)
        # Only the head is sent: the reply must not wait for the 10 MB body.
        writer.write(b"POST /big HTTP/1.1\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n")
        status, headers, body = await read_response(reader)  # a 100 here would fail this
        assert status == 413 and headers["connection"] == "close"
        assert msgspec.json.decode(body)["error"] == "request_too_large"
        assert isinstance(seen[0].error, PayloadTooLarge) and seen[0].body == b""
        await assert_closed(reader)
        writer.close()


async def test_chunked_body_over_limit_is_refused() -> None:
    async with serving(echo, max_body_bytes=10) as port:
        reader, writer = await connect(port)
        writer.write(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n")
        status, _, body = await read_response(reader)
        assert status == 413 and msgspec.json.decode(body)["error"] == "request_too_large"
        await assert_closed(reader)
        writer.close()


async def test_refused_upload_still_gets_its_413_through_httpx() -> None:
    # httpx writes the whole body before reading: the server must drain, not reset.
    async with serving(echo, max_body_bytes=1024) as port:
        async with httpx.AsyncClient() as client:
            r = await client.post(f"http://127.0.0.1:{port}/up", content=b"x" * 4_000_000)
            assert r.status_code == 413 and r.json()["error"] == "request_too_large"


async def test_malformed_chunked_body_reaches_handler_as_invalid_request() -> None:
    seen: list[Request] = []

    async def handler(req: Request, resp: Responder) -> None:
        seen.append(req)
        await echo(req, resp)

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n")
        status, _, _ = await read_response(reader)
        assert status == 400 and isinstance(seen[0].error, InvalidRequest)
        await assert_closed(reader)
        writer.close()


# ---- malformed and oversized heads ---------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nbad header line\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",  # smuggling
        b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    ],
)
async def test_malformed_request_gets_400_and_close(raw: bytes) -> None:
    called = False

    async def handler(req: Request, resp: Responder) -> None:
        nonlocal called
        called = True
        resp.send(200, [], b"")

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(raw)
        status, headers, _ = await read_response(reader)
        assert status == 400 and headers["connection"] == "close" and not called
        await assert_closed(reader)
        writer.close()


async def test_malformed_request_after_a_good_one_is_answered_in_order() -> None:
    async with serving(echo) as port:
        reader, writer = await connect(port)
        writer.write(get("/ok") + b"NOT HTTP AT ALL\r\n\r\n")
        assert (await read_response(reader))[0] == 200
        assert (await read_response(reader))[0] == 400
        await assert_closed(reader)
        writer.close()


@pytest.mark.parametrize(
    "extra",
    [
        "".join(f"x-h{i}: v\r\n" for i in range(20)),  # too many
        "x-big: " + "v" * 3000 + "\r\n",  # too large
    ],
)
async def test_header_limits_give_431(extra: str) -> None:
    async with serving(echo, max_headers=10, max_header_bytes=2048) as port:
        reader, writer = await connect(port)
        writer.write(get("/", extra))
        status, _, _ = await read_response(reader)
        assert status == 431
        await assert_closed(reader)
        writer.close()


async def test_endless_header_line_is_cut_off() -> None:
    async with serving(echo, max_header_bytes=2048) as port:
        reader, writer = await connect(port)
        writer.write(b"GET / HTTP/1.1\r\nX-Endless: ")
        for _ in range(5):
            writer.write(b"v" * 1024)
            await asyncio.sleep(0.01)
        status, _, _ = await read_response(reader)
        assert status == 431
        writer.close()


# ---- timeouts ---------------------------------------------------------------------------


async def test_slowloris_head_is_timed_out() -> None:
    async with serving(echo, header_timeout=0.3) as port:
        reader, writer = await connect(port)
        start = asyncio.get_running_loop().time()
        writer.write(b"GET / HTTP/1.1\r\n")
        with contextlib.suppress(ConnectionError):
            for _ in range(30):  # one header byte every 50 ms: always active, never done
                await asyncio.sleep(0.05)
                writer.write(b"X")
                if reader.at_eof():
                    break
        await assert_closed(reader)
        assert asyncio.get_running_loop().time() - start < 1.0
        writer.close()


async def test_slow_body_gets_408_from_the_handler_then_close() -> None:
    async with serving(echo, body_timeout=0.3) as port:
        reader, writer = await connect(port)
        writer.write(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        status, _, body = await read_response(reader)
        assert status == 408 and msgspec.json.decode(body)["error"] == "request_timeout"
        await assert_closed(reader)
        writer.close()


async def test_idle_keep_alive_connection_is_closed() -> None:
    async with serving(echo, keepalive_timeout=0.3) as port:
        reader, writer = await connect(port)
        writer.write(get())
        assert (await read_response(reader))[0] == 200
        start = asyncio.get_running_loop().time()
        await assert_closed(reader)
        assert asyncio.get_running_loop().time() - start < 1.0
        writer.close()


async def test_long_handler_is_not_cut_by_keepalive_timeout() -> None:
    async def handler(req: Request, resp: Responder) -> None:
        await asyncio.sleep(0.5)
        resp.send(200, [], b"late")

    async with serving(handler, keepalive_timeout=0.2, header_timeout=0.2) as port:
        reader, writer = await connect(port)
        writer.write(get())
        assert (await read_response(reader))[2] == b"late"
        writer.close()


# ---- handler failures ----------------------------------------------------------------


async def test_handler_exception_gives_500_without_traceback_and_connection_survives() -> None:
    async def handler(req: Request, resp: Responder) -> None:
        if req.path == "/boom":
            raise RuntimeError("secret internals")
        resp.send(200, [], b"fine")

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(get("/boom"))
        status, headers, body = await read_response(reader)
        assert status == 500 and headers["content-type"] == "application/json"
        assert msgspec.json.decode(body)["error"]["code"] == "internal_error"
        assert b"secret" not in body and b"Traceback" not in body
        writer.write(get("/next"))
        assert (await read_response(reader))[2] == b"fine"
        writer.close()


async def test_handler_that_returns_without_responding_gets_500() -> None:
    async def handler(req: Request, resp: Responder) -> None:
        return None

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(get() + get())
        assert (await read_response(reader))[0] == 500
        assert (await read_response(reader))[0] == 500
        writer.close()


async def test_handler_failing_mid_stream_cuts_the_connection() -> None:
    async def handler(req: Request, resp: Responder) -> None:
        await resp.start_stream(200, [])
        await resp.write(b"partial")
        raise RuntimeError("upstream died")

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(get())
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await read_response(reader)  # never sees the terminating chunk
        writer.close()


async def test_hanging_handler_is_cancelled_when_the_client_leaves() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def handler(req: Request, resp: Responder) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # never responds
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(get())
        await asyncio.wait_for(started.wait(), 2)
        writer.close()
        await asyncio.wait_for(cancelled.wait(), 2)


async def test_disconnect_callback_fires_and_write_raises() -> None:
    fired = asyncio.Event()
    outcome: list[object] = []

    async def handler(req: Request, resp: Responder) -> None:
        resp.on_disconnect(fired.set)
        await resp.start_stream(200, [("content-type", "text/event-stream")])
        await resp.write(b"data: 1\n\n")
        await fired.wait()  # the gateway would cancel its upstream call here
        outcome.append(resp.disconnected)
        try:
            await resp.write(b"data: 2\n\n")
        except ClientDisconnected as exc:
            outcome.append(exc)

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(get())
        await asyncio.wait_for(reader.readuntil(b"data: 1\n\n"), 2)
        writer.close()
        await asyncio.wait_for(fired.wait(), 2)
        for _ in range(50):
            if len(outcome) == 2:
                break
            await asyncio.sleep(0.01)
        assert outcome[0] is True and isinstance(outcome[1], ClientDisconnected)


async def test_stream_head_goes_out_before_the_first_chunk() -> None:
    head_seen = asyncio.Event()

    async def handler(req: Request, resp: Responder) -> None:
        await resp.start_stream(200, [("content-type", "text/event-stream")])
        await asyncio.wait_for(head_seen.wait(), 2)  # a slow first token
        await resp.write(b"data: late\n\n")
        await resp.end()

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(get())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"transfer-encoding: chunked" in head
        head_seen.set()
        assert await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 2) == b"c\r\ndata: late\n\n\r\n0\r\n\r\n"
        writer.close()


# ---- back-pressure --------------------------------------------------------------------

CHUNK = b"x" * 65536
TOTAL_CHUNKS = 256  # 16 MiB: far more than socket buffers hold


async def test_write_waits_for_a_client_that_does_not_read() -> None:
    written = 0
    done = asyncio.Event()

    async def handler(req: Request, resp: Responder) -> None:
        nonlocal written
        await resp.start_stream(200, [])
        for _ in range(TOTAL_CHUNKS):
            await resp.write(CHUNK)
            written += 1
        await resp.end()
        done.set()

    async with serving(handler) as port:
        reader, writer = await connect(port, rcvbuf=16384)
        writer.write(get())
        await asyncio.sleep(0.3)  # not reading
        stalled_at = written
        assert 0 < stalled_at < TOTAL_CHUNKS // 2, stalled_at
        await asyncio.sleep(0.1)
        assert written == stalled_at  # still waiting, not buffering
        status, _, body = await read_response(reader)
        assert status == 200 and len(body) == TOTAL_CHUNKS * len(CHUNK)
        await asyncio.wait_for(done.wait(), 2)
        writer.close()


async def test_client_that_never_reads_is_cut_off_after_send_timeout() -> None:
    outcome: list[BaseException] = []

    async def handler(req: Request, resp: Responder) -> None:
        await resp.start_stream(200, [])
        try:
            for _ in range(TOTAL_CHUNKS):
                await resp.write(CHUNK)
        except ClientDisconnected as exc:
            outcome.append(exc)
            raise

    async with serving(handler, send_timeout=0.3) as port:
        reader, writer = await connect(port, rcvbuf=16384)
        writer.write(get())
        for _ in range(200):
            if outcome:
                break
            await asyncio.sleep(0.01)
        assert outcome and isinstance(outcome[0], ClientDisconnected)
        writer.close()


# ---- shutdown and odd requests ---------------------------------------------------------


async def test_close_lets_in_flight_response_finish_and_drops_idle_connections() -> None:
    release = asyncio.Event()

    async def handler(req: Request, resp: Responder) -> None:
        if req.path == "/slow":
            await release.wait()
        resp.send(200, [], b"done")

    server = await start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    idle_r, idle_w = await connect(port)
    idle_w.write(get())
    await read_response(idle_r)
    busy_r, busy_w = await connect(port)
    busy_w.write(get("/slow"))
    await asyncio.sleep(0.05)
    server.close()
    await assert_closed(idle_r)
    release.set()
    status, headers, body = await read_response(busy_r)
    assert (status, body, headers["connection"]) == (200, b"done", "close")
    await asyncio.wait_for(server.wait_closed(), 2)
    idle_w.close()
    busy_w.close()


async def test_upgrade_request_is_answered_then_closed() -> None:
    async with serving(echo) as port:
        reader, writer = await connect(port)
        writer.write(get("/ws", "Connection: Upgrade\r\nUpgrade: websocket\r\n") + b"\x81\x85binaryframe")
        status, _, body = await read_response(reader)
        assert status == 200 and msgspec.json.decode(body)["path"] == "/ws"
        await assert_closed(reader)
        writer.close()


async def test_upgrade_is_ignored_and_a_content_length_body_still_read() -> None:
    async with serving(echo) as port:
        reader, writer = await connect(port)
        writer.write(
            b"POST /up HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 11\r\n\r\nhello"
        )
        await asyncio.sleep(0.02)
        writer.write(b" world")
        status, headers, body = await read_response(reader)
        assert status == 200 and msgspec.json.decode(body)["body"] == "hello world"
        assert headers["connection"] == "close"
        await assert_closed(reader)
        writer.close()


async def test_upgrade_with_chunked_body_is_refused() -> None:
    async with serving(echo) as port:
        reader, writer = await connect(port)
        writer.write(
            b"POST /up HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        )
        status, _, body = await read_response(reader)
        assert status == 400 and msgspec.json.decode(body)["error"] == "invalid_request"
        writer.close()


# ---- an independent client ------------------------------------------------------------


async def test_httpx_client_keep_alive_json_and_streaming() -> None:
    async def handler(req: Request, resp: Responder) -> None:
        if req.path == "/stream":
            await resp.start_stream(200, [("content-type", "text/event-stream")])
            for i in range(5):
                await resp.write(b"data: %d\n\n" % i)
            await resp.end()
        else:
            await echo(req, resp)

    async with serving(handler) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            r1 = await client.post("/v1/chat/completions?x=1", json={"model": "m"}, headers={"A": "b"})
            r2 = await client.get("/v1/models")
            assert r1.status_code == 200 and r2.status_code == 200
            d1, d2 = r1.json(), r2.json()
            assert msgspec.json.decode(d1["body"]) == {"model": "m"}
            assert d1["query"] == "x=1" and d1["headers"]["a"] == "b"
            assert d1["port"] == d2["port"]  # same connection
            async with client.stream("GET", "/stream") as r:
                text = b"".join([c async for c in r.aiter_bytes()])
            assert text == b"".join(b"data: %d\n\n" % i for i in range(5))
            assert (await client.head("/x")).status_code == 200


# ---- end(final): the last data, the terminator (and a held head) in one write ------------


@pytest.mark.parametrize("version", ["1.1", "1.0"])
async def test_end_with_final_data_completes_the_body(version: str) -> None:
    async def handler(req: Request, resp: Responder) -> None:
        await resp.start_stream(200, [("content-type", "text/event-stream")])
        if req.path == "/two":
            await resp.write(b"data: first\n\n")
        await resp.end(b"data: last\n\n")

    async with serving(handler) as port:
        for path, expected in (("/one", b"data: last\n\n"), ("/two", b"data: first\n\ndata: last\n\n")):
            reader, writer = await connect(port)
            extra = "Connection: keep-alive\r\n" if version == "1.0" else ""
            writer.write(f"GET {path} HTTP/{version}\r\nHost: t\r\n{extra}\r\n".encode())
            status, headers, body = await read_response(reader)
            assert status == 200 and body == expected
            assert ("transfer-encoding" in headers) == (version == "1.1")
            writer.close()


async def test_end_with_final_data_goes_out_in_one_segment_with_the_head() -> None:
    async def handler(req: Request, resp: Responder) -> None:
        await resp.start_stream(200, [("content-type", "text/event-stream")])
        await resp.end(b"data: only\n\n")

    async with serving(handler) as port:
        reader, writer = await connect(port)
        writer.write(get())
        await asyncio.sleep(0.2)  # let the whole response arrive
        data = await asyncio.wait_for(reader.read(65536), 2)  # one read gets it all
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert data.endswith(b"\r\n\r\nc\r\ndata: only\n\n\r\n0\r\n\r\n")
        writer.close()
