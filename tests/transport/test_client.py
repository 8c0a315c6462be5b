"""The pooled upstream client against real servers: ours, and raw scripted sockets
that misbehave on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec
import pytest

from switchgear.core.errors import UpstreamProtocolError, UpstreamTimeout, UpstreamUnavailable
from switchgear.http import Request, Responder, start_server
from switchgear.transport.client import UpstreamPool

# ---- helpers ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def our_server(handler) -> AsyncIterator[int]:
    server = await start_server(handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 2)


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class RawServer:
    """A bare TCP server; ``script(reader, writer, index)`` plays each connection."""

    def __init__(self, script: Script, ssl_context: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.ssl_context = ssl_context
        self.connections = 0
        self.closed = asyncio.Event()  # set when a connection sees EOF from us
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        index = self.connections
        self.connections += 1
        try:
            await self.script(reader, writer, index)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"duplicate header {name}"
            headers[name.lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0], headers, body


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN."""
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def serve_ok_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
    while True:
        await read_request(reader)
        writer.write(OK)


# ---- against our own server -------------------------------------------------------------


async def echo(req: Request, resp: Responder) -> None:
    doc = {"method": req.method, "path": req.path, "query": req.query, "headers": req.headers,
           "body": req.body.decode(), "port": req.client[1] if req.client else 0}  # fmt: skip
    resp.send(201, [("content-type", "application/json"), ("x-a", "1"), ("X-A", "2")], msgspec.json.encode(doc))


async def test_request_shape_and_response_against_our_server() -> None:
    async with our_server(echo) as port:
        pool = UpstreamPool(f"http://127.0.0.1:{port}/openai/v1/")
        headers = [("authorization", "Bearer k"), ("Host", "evil"), ("Content-Length", "999")]
        resp = await pool.request("POST", "/chat/completions?api-version=1", headers, b'{"a":1}')
        assert resp.status == 201
        assert resp.headers["x-a"] == "1, 2" and resp.headers["content-type"] == "application/json"
        doc = msgspec.json.decode(await resp.read())
        assert doc["path"] == "/openai/v1/chat/completions" and doc["query"] == "api-version=1"
        assert doc["headers"]["host"] == f"127.0.0.1:{port}"
        assert doc["headers"]["content-length"] == "7"
        assert doc["headers"]["authorization"] == "Bearer k"
        assert doc["body"] == '{"a":1}'
        await pool.aclose()


async def test_keep_alive_connection_is_reused() -> None:
    async with our_server(echo) as port:
        pool = UpstreamPool(f"http://127.0.0.1:{port}")
        ports = []
        for _ in range(3):
            resp = await pool.request("GET", "/", [], b"")
            ports.append(msgspec.json.decode(await resp.read())["port"])
        assert len(set(ports)) == 1  # one client port: one TCP connection
        await pool.aclose()


async def test_stream_chunks_arrive_as_they_are_sent() -> None:
    got_first = asyncio.Event()

    async def handler(req: Request, resp: Responder) -> None:
        await resp.start_stream(200, [("content-type", "text/event-stream")])
        await resp.write(b"data: 1\n\n")
        await asyncio.wait_for(got_first.wait(), 2)  # only after the client saw chunk 1
        await resp.write(b"data: 2\n\n")
        await resp.end()

    async with our_server(handler) as port:
        pool = UpstreamPool(f"http://127.0.0.1:{port}")
        resp = await pool.request("POST", "/s", [], b"{}", idle_timeout=1.0)
        chunks = []
        async for chunk in resp:
            chunks.append(chunk)
            got_first.set()
        assert chunks == [b"data: 1\n\n", b"data: 2\n\n"]
        resp.close()
        # The connection went back to the pool and serves the next request.
        resp = await pool.request("POST", "/s", [], b"{}")
        got_first.set()
        assert await resp.read() == b"data: 1\n\ndata: 2\n\n"
        assert pool._count == 1
        await pool.aclose()


# ---- response framings ---------------------------------------------------------------


async def test_chunked_response_with_trailers_and_1xx() -> None:
    async def script(reader, writer, index):
        await read_request(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Final: yes\r\n\r\n")
        writer.write(b"4\r\nWiki\r\n")
        await asyncio.sleep(0.01)
        writer.write(b"5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n")
        await serve_ok_forever(reader, writer, index)

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        resp = await pool.request("GET", "/", [], b"")
        assert resp.status == 200 and resp.headers["x-final"] == "yes" and "link" not in resp.headers
        assert await resp.read() == b"Wikipedia"
        resp = await pool.request("GET", "/", [], b"")
        assert await resp.read() == b"ok"
        assert srv.connections == 1
        await pool.aclose()


async def test_body_delimited_by_close_is_read_and_connection_not_reused() -> None:
    async def script(reader, writer, index):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ")
        await asyncio.sleep(0.01)
        writer.write(b"the end")
        await writer.drain()
        writer.close()

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        for _ in range(2):
            resp = await pool.request("GET", "/", [], b"")
            assert await resp.read() == b"until the end"
        assert srv.connections == 2
        await pool.aclose()


async def test_head_request_does_not_wait_for_a_body() -> None:
    async def script(reader, writer, index):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        await asyncio.sleep(5)

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        resp = await pool.request("HEAD", "/", [], b"", total_timeout=1.0)
        assert resp.headers["content-length"] == "1000" and await resp.read() == b""
        await pool.aclose()


# ---- failures --------------------------------------------------------------------------


async def test_connection_refused_is_unavailable() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    pool = UpstreamPool(f"http://127.0.0.1:{port}")
    with pytest.raises(UpstreamUnavailable) as info:
        await pool.request("GET", "/", [], b"")
    assert info.value.retryable and pool._count == 0


async def test_connect_timeout_names_the_phase() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept backlog: further SYNs are dropped
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    await asyncio.sleep(0.05)
    pool = UpstreamPool(f"http://127.0.0.1:{port}", connect_timeout=0.2)
    try:
        with pytest.raises(UpstreamTimeout, match="connect"):
            await pool.request("GET", "/", [], b"")
        assert pool._count == 0
    finally:
        for s in fillers:
            s.close()
        listener.close()


async def test_reset_mid_body_is_unavailable() -> None:
    async def script(reader, writer, index):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..")
        await writer.drain()
        await asyncio.sleep(0.02)
        reset(writer)

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        resp = await pool.request("GET", "/", [], b"")
        with pytest.raises(UpstreamUnavailable, match="middle of the body"):
            await resp.read()
        assert pool._count == 0
        await pool.aclose()


async def test_close_after_headers_is_unavailable_when_streaming() -> None:
    async def script(reader, writer, index):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        resp = await pool.request("GET", "/", [], b"")
        got = []
        with pytest.raises(UpstreamUnavailable):
            async for chunk in resp:
                got.append(chunk)
        assert got == [b"hello"]
        await pool.aclose()


async def test_fresh_connection_closed_before_response_is_not_retried() -> None:
    async def script(reader, writer, index):
        await read_request(reader)  # then close without a word

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        with pytest.raises(UpstreamUnavailable):
            await pool.request("POST", "/", [], b"{}")
        assert srv.connections == 1  # a fresh connection failing is not the stale race
        await pool.aclose()


async def test_malformed_response_is_protocol_error() -> None:
    async def script(reader, writer, index):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n")
        await asyncio.sleep(1)

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        with pytest.raises(UpstreamProtocolError):
            await pool.request("GET", "/", [], b"")
        assert pool._count == 0
        await pool.aclose()


# ---- timeouts ---------------------------------------------------------------------------


async def test_slow_first_byte_times_out() -> None:
    async def script(reader, writer, index):
        await read_request(reader)
        await asyncio.sleep(5)

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        with pytest.raises(UpstreamTimeout, match="first byte"):
            await pool.request("GET", "/", [], b"", first_byte_timeout=0.2, idle_timeout=0.05)
        assert pool._count == 0
        await pool.aclose()


async def test_idle_gap_between_chunks_times_out() -> None:
    async def script(reader, writer, index):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):  # 0.1 s gaps: fine
            writer.write(b"1\r\nx\r\n")
            await asyncio.sleep(0.1)
        await asyncio.sleep(5)  # then silence

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        resp = await pool.request("GET", "/", [], b"", first_byte_timeout=1.0, idle_timeout=0.3)
        got = b""
        with pytest.raises(UpstreamTimeout, match="idle gap between chunks"):
            async for chunk in resp:
                got += chunk
        assert got == b"xxx"
        await pool.aclose()


async def test_total_timeout_bounds_a_steady_trickle() -> None:
    async def script(reader, writer, index):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"1\r\nx\r\n")
            await asyncio.sleep(0.05)

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        resp = await pool.request("GET", "/", [], b"", idle_timeout=0.2, total_timeout=0.4)
        with pytest.raises(UpstreamTimeout, match="total"):
            await resp.read()
        await pool.aclose()


# ---- the pool ------------------------------------------------------------------------


async def test_stale_pooled_connection_is_retried_once_on_a_fresh_one() -> None:
    async def script(reader, writer, index):
        if index == 0:
            await read_request(reader)
            writer.write(OK)
            await read_request(reader)
            return  # the keep-alive race: closed as the second request arrived
        await serve_ok_forever(reader, writer, index)

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        assert await (await pool.request("POST", "/", [], b"1")).read() == b"ok"
        assert await (await pool.request("POST", "/", [], b"2")).read() == b"ok"
        assert srv.connections == 2 and pool._count == 1
        await pool.aclose()


async def test_idle_connection_closed_by_upstream_is_not_used() -> None:
    async def script(reader, writer, index):
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        if index == 0:
            return  # FIN right after the response
        await serve_ok_forever(reader, writer, index)

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        assert await (await pool.request("GET", "/", [], b"")).read() == b"ok"
        await asyncio.sleep(0.05)  # the FIN arrives while the connection is idle
        assert pool._count == 0
        assert await (await pool.request("GET", "/", [], b"")).read() == b"ok"
        assert srv.connections == 2
        await pool.aclose()


async def test_partial_response_then_close_is_not_retried() -> None:
    async def script(reader, writer, index):
        await read_request(reader)
        writer.write(OK)
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-")  # some of the response: it was processed

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        await (await pool.request("POST", "/", [], b"1")).read()
        with pytest.raises(UpstreamUnavailable):
            await pool.request("POST", "/", [], b"2")
        assert srv.connections == 1
        await pool.aclose()


async def test_pool_exhaustion_waits_then_times_out_or_gets_the_released_connection() -> None:
    async with RawServer(serve_ok_forever) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}", max_connections=1, connect_timeout=0.2)
        held = await pool.request("GET", "/", [], b"")  # not read yet: its connection is busy
        with pytest.raises(UpstreamTimeout, match="pool"):
            await pool.request("GET", "/", [], b"")

        waiting = asyncio.create_task(pool.request("GET", "/", [], b""))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        assert await held.read() == b"ok"  # releases the connection to the waiter
        assert await (await waiting).read() == b"ok"
        assert srv.connections == 1
        await pool.aclose()


async def test_cancelled_request_closes_its_connection() -> None:
    saw_eof = asyncio.Event()

    async def script(reader, writer, index):
        await read_request(reader)
        if index == 0:
            await reader.read()  # the client gives up: we see EOF
            saw_eof.set()
            return
        writer.write(OK)

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}", max_connections=1)
        task = asyncio.create_task(pool.request("GET", "/", [], b""))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(saw_eof.wait(), 2)
        assert pool._count == 0
        assert await (await pool.request("GET", "/", [], b"")).read() == b"ok"
        assert srv.connections == 2
        await pool.aclose()


async def test_closing_a_half_read_response_does_not_pool_it() -> None:
    async def script(reader, writer, index):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await serve_ok_forever(reader, writer, index)

    async with RawServer(script) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}")
        resp = await pool.request("GET", "/", [], b"")
        async for chunk in resp:
            assert chunk == b"abc"
            break
        resp.close()
        assert pool._count == 0
        await pool.aclose()


async def test_forgotten_response_does_not_keep_its_slot() -> None:
    async with RawServer(serve_ok_forever) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}", max_connections=1, connect_timeout=0.2)
        resp = await pool.request("GET", "/", [], b"")
        del resp  # neither read nor closed
        assert await (await pool.request("GET", "/", [], b"")).read() == b"ok"
        await pool.aclose()


async def test_idle_connections_expire() -> None:
    async with RawServer(serve_ok_forever) as srv:
        pool = UpstreamPool(f"http://127.0.0.1:{srv.port}", keepalive_idle=0.1)
        await (await pool.request("GET", "/", [], b"")).read()
        assert pool._count == 1
        await asyncio.sleep(0.25)
        assert pool._count == 0
        await (await pool.request("GET", "/", [], b"")).read()
        assert srv.connections == 2
        await pool.aclose()


# ---- TLS -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_https_verifies_and_reuses(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    async with RawServer(serve_ok_forever, ssl_context=server_ctx) as srv:
        trusting = ssl.create_default_context(cafile=str(cert))
        pool = UpstreamPool(f"https://localhost:{srv.port}", ssl_context=trusting)
        for _ in range(2):
            assert await (await pool.request("GET", "/", [], b"")).read() == b"ok"
        assert srv.connections == 1
        await pool.aclose()

        default = UpstreamPool(f"https://localhost:{srv.port}")  # system trust store only
        with pytest.raises(UpstreamUnavailable, match="SSL"):
            await default.request("GET", "/", [], b"")
        await default.aclose()
